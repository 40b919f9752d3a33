/**
 * @module
 * The `edgeforge` command: parses arguments, calls the packages, prints. Errors are one line
 * (`edgeforge: <what and where>`), exit 1; usage errors exit 2; `--debug` adds the stack.
 */
import { Command, CommanderError, Option } from 'commander';
import { convert } from './commands/convert.js';
import { distillCommand, finetuneCommand, type DistillFlags, type TrainFlags } from './commands/distill.js';
import { inspect } from './commands/inspect.js';
import { benchCommand, compareCommand, evalCommand, type MeasureFlags } from './commands/measure.js';
import { optimizeCommand, type OptimizeFlags } from './commands/optimize.js';
import { pruneCommand, type PruneFlags } from './commands/prune.js';
import { quantizeCommand, type QuantizeFlags } from './commands/quantize.js';
import { CliError, UsageError, oneLine } from './errors.js';
import { parseInputShapes } from './load.js';

const collect = (v: string, prev: string[]) => [...prev, v];

export { CliError, UsageError };

interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

const defaultIo: Io = {
  stdout: (s) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`),
  stderr: (s) => process.stderr.write(s.endsWith('\n') ? s : `${s}\n`),
};

function program(io: Io): Command {
  const p = new Command('edgeforge')
    .description('Compress, optimize, prove and deploy ONNX models for edge devices.')
    .option('--debug', 'print stack traces on errors')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s), outputError: () => {} })
    .showSuggestionAfterError(true);

  p.command('inspect')
    .description('show what a model holds: IR, opsets, I/O, parameters by dtype, operators, MACs, largest tensors')
    .argument('<model>', 'ONNX model file')
    .option('--json', 'machine-readable output')
    .addOption(new Option('--top <n>', 'how many of the largest tensors to list').default('10'))
    .option(
      '--input-shape <name=dims>',
      'fix an input shape for shape inference and MACs, e.g. x=1,3,224,224 (repeatable)',
      collect,
      [],
    )
    .option('--no-check', 'inspect even models that onnxruntime would refuse')
    .action((model: string, o: { json?: boolean; top: string; inputShape: string[]; check: boolean }) => {
      const top = Number(o.top);
      if (!Number.isInteger(top) || top < 0) throw new UsageError(`--top: '${o.top}' is not a count`);
      const inputShapes = parseInputShapes(o.inputShape);
      io.stdout(inspect(model, { json: o.json, top, check: o.check, ...(inputShapes ? { inputShapes } : {}) }).text);
    });

  p.command('convert')
    .description('re-save a model, moving tensors to or from external data')
    .argument('<model>', 'ONNX model file')
    .requiredOption('-o, --output <file>', 'output model file')
    .option('--external-data [min-bytes]', 'store tensors of at least min-bytes (default 1024) in <output>.data')
    .option('--inline', 'store every tensor inside the .onnx file (limit: 2 GiB)')
    .option('--no-check', 'convert even models that onnxruntime would refuse')
    .option('--json', 'machine-readable output')
    .action(
      (
        model: string,
        o: { output: string; externalData?: boolean | string; inline?: boolean; json?: boolean; check: boolean },
      ) => {
        io.stdout(convert(model, o));
      },
    );
  const measure = (c: Command, opts: { data?: 'required' | 'optional'; bench?: boolean }) => {
    c.option('--backend <name>', 'node (onnxruntime-node, native) or wasm (onnxruntime-web)', 'node')
      .option('--threads <n>', 'intra-op threads')
      .option('--batch <n>', 'samples per run')
      .option('--limit <n>', 'use at most n samples of --data')
      .option(
        '--shape <dim=size|input=dims>',
        'fix a symbolic dim (N=1) or a whole input (x=1,3,48,320); repeatable',
        collect,
        [],
      )
      .option('--output <name>', 'output with class scores (default: the first)')
      .option('--report <file.html>', 'also write a self-contained HTML report')
      .option('--json', 'machine-readable output');
    const dataHelp = 'data spec, e.g. idx:images.gz,labels=labels.gz, npz:f.npz, images:dir, synthetic';
    if (opts.data === 'required') c.requiredOption('--data <spec>', dataHelp);
    else if (opts.data) c.option('--data <spec>', `${dataHelp} (default: synthetic inputs)`);
    if (opts.bench) {
      c.option('--iterations <n>', 'timed runs (default 50)')
        .option('--warmup <n>', 'untimed runs first (default 5)')
        .option('--duration <ms>', 'time budget instead of a fixed number of runs');
    }
    return c;
  };

  p.command('optimize')
    .description(
      'run a recipe of passes: by default the safe graph optimizations; any pass by name (e.g. prune → distill → quantize)',
    )
    .argument('<model>', 'ONNX model file')
    .requiredOption('-o, --output <file>', 'output model file')
    .option('--passes <a,b,c>', 'passes to run, in order (default: the safe default recipe)')
    .option('--recipe <file>', 'recipe file (JSON or YAML) with passes and options')
    .option(
      '--verify',
      'run original and result through onnxruntime after every pass; fail naming the pass that changed outputs',
    )
    .option('--input-shape <name=dims>', 'fix an input shape, e.g. x=1,3,224,224 (repeatable)', collect, [])
    .option('--data <spec>', 'inputs for --verify (default: synthetic)')
    .option('--calib <spec>', 'calibration data for a quantize-static step')
    .option('--calib-limit <n>', 'calibration samples (default 256)')
    .option('--json', 'machine-readable report')
    .action(async (model: string, o: OptimizeFlags) => io.stdout(await optimizeCommand(model, o)));

  p.command('quantize')
    .description(
      'int8 (dynamic or static with calibration), weight-only int4/int8, or fp16; then fidelity against the original',
    )
    .argument('<model>', 'ONNX model file')
    .requiredOption('-o, --output <file>', 'output model file')
    .requiredOption('--mode <mode>', 'dynamic | static | weight-only | fp16')
    .option('--calib <spec>', 'calibration data (static), e.g. idx:train-images-idx3-ubyte or synthetic:count=100')
    .option('--calib-limit <n>', 'calibration samples (default 256)')
    .option('--calib-batch <n>', 'calibration batch size (default 8)')
    .option('--method <m>', 'calibration method (static): minmax | percentile | entropy')
    .option('--percentile <p>', 'percentile for --method percentile (default 99.999)')
    .option('--activation-type <t>', 'activation type (static): uint8 | int8')
    .option('--weight-type <t>', 'weight type (dynamic, static): int8 | uint8')
    .option('--per-channel', 'per-channel weight scales (dynamic, static; the default)')
    .option('--no-per-channel', 'one scale per weight tensor (onnxruntime quantize_dynamic default)')
    .option('--reduce-range', '7-bit int8 weights (dynamic, static; the default for int8 weights)')
    .option('--no-reduce-range', 'full 8-bit int8 weights: only for CPUs with VNNI or ARM (x86 AVX2 saturates)')
    .option('--bits <n>', 'weight bits (weight-only): 4 | 8')
    .option('--block-size <n>', 'block size along K (weight-only): power of two ≥ 16')
    .option('--symmetric', 'symmetric blocks, no zero points (weight-only)')
    .option(
      '--format <f>',
      'weight-only format: matmulnbits (com.microsoft, fast on ORT CPU) | qdq (opset 21, portable)',
    )
    .option('--accuracy-level <n>', 'MatMulNBits accuracy_level 0-4 (weight-only)')
    .option('--keep-io-types', 'keep float32 graph inputs and outputs (fp16; the default)')
    .option('--no-keep-io-types', 'make graph inputs and outputs float16 too')
    .option('--block-ops <a,b>', 'op types to keep in float32 (fp16)')
    .option('--op-types <a,b>', 'only quantize these op types')
    .option('--include-nodes <a,b>', 'only quantize these nodes (by name)')
    .option('--exclude-nodes <a,b>', 'leave these nodes (by name) in float')
    .option(
      '--auto-exclude <snr-db>',
      'static: leave the layers that add the most error in float until every output reaches this SNR (dB) against float',
    )
    .option('--auto-exclude-max <n>', 'static: at most n layers left in float by --auto-exclude (default 8)')
    .option('--analyze', 'static: per-layer error table against the float model on the calibration data')
    .option('--no-optimize', 'skip the default optimize recipe that runs first')
    .option('--input-shape <name=dims>', 'fix an input shape, e.g. x=1,3,224,224 (repeatable)', collect, [])
    .option(
      '--data <spec>',
      'data to measure fidelity (and accuracy, if labelled) on (default: --calib, else synthetic)',
    )
    .option('--limit <n>', 'samples for that measurement (default 200)')
    .option('--latency', 'also measure latency, quantized/original, interleaved')
    .option('--backend <b>', 'node | wasm, for calibration and measurement')
    .option('--report <out.html>', 'write an HTML report of the comparison')
    .option('--json', 'machine-readable report')
    .action(async (model: string, o: QuantizeFlags) => io.stdout(await quantizeCommand(model, o)));

  p.command('prune')
    .description('magnitude (per layer, global), N:M, channel or neuron pruning; then sparsity, gzip size and fidelity')
    .argument('<model>', 'ONNX model file')
    .requiredOption('-o, --output <file>', 'output model file')
    .requiredOption('--method <m>', 'l1 | global | nm | channels | merge')
    .option(
      '--amount <x>',
      'fraction to prune (l1, global: of the weights, in [0,1]; channels: of each channel group, in [0,1))',
    )
    .option('--pattern <n:m>', 'keep n of every m weights along the input channels (nm; default 2:4)')
    .option('--criterion <c>', 'channel importance (channels): l1 | l2 | bn-scale')
    .option('--min-channels <n>', 'leave layers with fewer output channels alone (channels)')
    .option('--multiple-of <n>', 'keep a multiple of n channels per group (channels)')
    .option('--threshold <c>', 'cosine above which neurons merge (merge; default 0.99)')
    .option('--op-types <a,b>', 'only prune weights of these op types (Conv, ConvTranspose, Gemm, MatMul)')
    .option('--nodes <p,q>', 'only prune weights of nodes whose names match these globs or /regex/')
    .option('--min-size <n>', 'only prune weights with at least n elements')
    .option(
      '--store-sparse [min-sparsity]',
      'store weights as sparse_initializer where smaller (default from 0.5 sparsity)',
    )
    .option('--no-optimize', 'skip the default optimize recipe that runs first')
    .option('--input-shape <name=dims>', 'fix an input shape, e.g. x=1,3,224,224 (repeatable)', collect, [])
    .option('--data <spec>', 'data to measure accuracy (labelled) and fidelity on (default: synthetic)')
    .option('--limit <n>', 'samples for that measurement (default 200)')
    .option('--latency', 'also measure latency, pruned/original, interleaved')
    .option('--backend <b>', 'node | wasm, for the measurement')
    .option('--report <out.html>', 'write an HTML report of the comparison')
    .option('--json', 'machine-readable report')
    .action(async (model: string, o: PruneFlags) => io.stdout(await pruneCommand(model, o)));

  /** Flags `distill` and `finetune` share. */
  const training = (c: Command): Command =>
    c
      .requiredOption('-o, --output <file>', 'output model file')
      .requiredOption('--data <spec>', 'training data (labelled unless distilling with --alpha 0)')
      .option('--val <spec>', 'held-out data (default: --val-split of the training data, never trained on)')
      .option('--val-split <x>', 'fraction of the training data held out (default 0.05)')
      .option('--val-limit <n>', 'at most n held-out samples (default 2000)')
      .option('--limit <n>', 'train on at most n samples')
      .option('--epochs <x>', 'passes over the training data (default 3; fractions allowed)')
      .option('--max-steps <n>', 'stop after n optimizer steps')
      .option('--batch <n>', 'samples per step (default 64)')
      .option('--lr <x>', 'peak learning rate, cosine-decayed (default 0.001)')
      .option('--warmup <n>', 'linear warm-up steps (default 3% of the steps)')
      .option('--optimizer <o>', 'adam | adamw | sgd (default adam)')
      .option('--weight-decay <x>', 'weight decay (default 0; adamw 0.01)')
      .option('--momentum <x>', 'SGD momentum (default 0.9)')
      .option('--logits <name>', 'the [N, C] output to train (default the first)')
      .option('--eval-every <n>', 'evaluate the held-out data every n steps (default once per epoch)')
      .option('--patience <n>', 'stop after n evaluations without held-out improvement')
      .option(
        '--checkpoint <file>',
        'keep the best weights so far here (default <output>.checkpoint.onnx, removed on success)',
      )
      .option('--threads <n>', 'onnxruntime threads')
      .option('--seed <n>', 'shuffling and held-out split seed (default 1)')
      .option('--test <spec>', 'after training, measure the result against the reference on this data')
      .option('--test-limit <n>', 'samples of that measurement (default all)')
      .option('--latency', 'also measure latency, result/reference, interleaved')
      .option('--report <out.html>', 'write an HTML report of the test comparison')
      .option('--json', 'machine-readable report');

  training(
    p
      .command('distill')
      .description('knowledge distillation into a smaller student, trained in onnxruntime')
      .requiredOption('--teacher <model>', 'the teacher model')
      .option('--student <model>', 'the student model (same inputs and outputs as the teacher)')
      .option('--shrink-width <f>', 'make the student from the teacher, keeping fraction f of its channels')
      .option('--temperature <T>', 'softening temperature (default 4)')
      .option('--alpha <x>', 'weight of the hard-label loss, 0..1 (default 0.5 with labels, 0 without)'),
  ).action(async (o: DistillFlags) => io.stdout(await distillCommand(o)));

  training(
    p
      .command('finetune')
      .description('supervised fine-tuning on labelled data (e.g. recovery after pruning), trained in onnxruntime')
      .argument('<model>', 'ONNX model file'),
  ).action(async (model: string, o: TrainFlags) => io.stdout(await finetuneCommand(model, o)));

  measure(
    p
      .command('eval')
      .description('accuracy on labelled data and fidelity against a reference model')
      .argument('<model>', 'ONNX model file')
      .option('--against <reference.onnx>', 'measure fidelity against this model on the same inputs'),
    { data: 'required' },
  ).action(async (model: string, o: MeasureFlags & { against?: string }) => io.stdout(await evalCommand(model, o)));

  measure(
    p
      .command('bench')
      .description('latency percentiles, throughput, cold start and memory')
      .argument('<model>', 'ONNX model file'),
    { data: 'optional', bench: true },
  ).action(async (model: string, o: MeasureFlags) => io.stdout(await benchCommand(model, o)));

  measure(
    p
      .command('compare')
      .description(
        'two models side by side: size, parameters, operators, accuracy, fidelity of b against a, latency b/a',
      )
      .argument('<a>', 'reference model')
      .argument('<b>', 'model to compare with a')
      .option('--no-latency', 'skip the latency measurement'),
    { data: 'optional', bench: true },
  ).action(async (a: string, b: string, o: MeasureFlags & { latency?: boolean }) =>
    io.stdout(await compareCommand(a, b, o)),
  );
  return p;
}

/** Runs the CLI; returns the exit code (0 ok, 1 failure, 2 usage). */
export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  const debug = argv.includes('--debug');
  try {
    await program(io).parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) return 0; // --help, --version
      io.stderr(`edgeforge: ${e.message.replace(/^error: /, '')}`);
      return 2;
    }
    if (debug && e instanceof Error && e.stack) io.stderr(e.stack);
    else io.stderr(`edgeforge: ${oneLine(e)}`);
    return e instanceof UsageError ? 2 : 1;
  }
}

/**
 * `edgeforge distill` and `edgeforge finetune` on files: load (or shrink the teacher into a student),
 * train, save atomically, then measure the student against the teacher (or the original) on test data.
 * Nothing is written to the output when anything fails; a diverged run leaves its last good weights in
 * the checkpoint file and says where.
 */
import { existsSync, rmSync } from 'node:fs';
import { loadModel, saveModel, summarizeModel, type Model, type SaveResult } from '@edgeforge/onnx';
import { openDataset } from '../data/index.js';
import { runCompare } from '../evaluate/run.js';
import { inputSignature } from '../passes/compress-model.js';
import type { CompareResult } from '../report/types.js';
import { distill, TrainingDiverged, type DistillOptions, type DistillResult } from './distill.js';
import { shrinkWidth, type ShrinkResult } from './shrink-width.js';

export interface DistillModelOptions extends Omit<DistillOptions, 'student' | 'teacher' | 'checkpoint'> {
  /** The teacher model file (omit to fine-tune). */
  teacher?: string;
  /** The student model file (distill), or the model to fine-tune. */
  student?: string;
  /** Make the student from the teacher at this fraction of its width instead. */
  shrinkWidth?: number;
  output: string;
  /** Best-so-far checkpoint; default `<output>.checkpoint.onnx`, removed after a successful run. */
  checkpoint?: string;
  /** Measure the result against the teacher (or the original) on this data after training. */
  test?: string;
  /** Samples of the test measurement (default: all). */
  testLimit?: number;
  /** Also measure latency, result/reference, interleaved. */
  latency?: boolean;
}

export interface DistillModelResult extends DistillResult {
  teacherPath?: string;
  studentPath?: string;
  output: string;
  saved: SaveResult;
  /** Parameters of the reference (teacher, or the model before fine-tuning) and of the result. */
  paramsBefore: number;
  paramsAfter: number;
  shrink?: ShrinkResult & { factor: number };
  /** The reference against the result on the test data (accuracy, fidelity, sizes, latency). */
  comparison?: CompareResult;
  testedOn?: string;
}

const params = (m: Model) => summarizeModel(m).parameters.total;

export async function distillModel(o: DistillModelOptions): Promise<DistillModelResult> {
  const {
    teacher: teacherPath,
    student: studentPath,
    shrinkWidth: factor,
    output,
    test,
    testLimit,
    latency,
    ...train
  } = o;
  if (teacherPath && (studentPath === undefined) === (factor === undefined))
    throw new Error('distill needs exactly one of a student model or a shrink-width factor');
  if (!teacherPath && !studentPath) throw new Error('fine-tuning needs the model to train');
  const teacher = teacherPath ? loadModel(teacherPath) : undefined;
  let student: Model;
  let shrink: DistillModelResult['shrink'];
  if (studentPath) student = loadModel(studentPath);
  else {
    student = loadModel(teacherPath!);
    shrink = { factor: factor!, ...(await shrinkWidth(student, factor!)) };
  }
  const reference = teacherPath ?? studentPath!;
  const paramsBefore = params(teacher ?? student);
  const checkpoint = o.checkpoint ?? `${output.replace(/\.onnx$/i, '')}.checkpoint.onnx`;
  const hadCheckpoint = existsSync(checkpoint);
  if (test) {
    // A bad test spec fails before hours of training, not after.
    const inputs = await inputSignature(reference, 'node');
    await openDataset(test, { inputs, batchSize: 1, limit: 1 }).catch((e: Error) => {
      throw new Error(`--test: ${e.message}`);
    });
  }
  let r: DistillResult;
  try {
    r = await distill({ ...train, student, ...(teacher ? { teacher } : {}), checkpoint });
  } catch (e) {
    if (e instanceof TrainingDiverged)
      throw new Error(`${e.message}, saved in ${checkpoint}; nothing written to ${output}`);
    // A run that never trained leaves no default checkpoint behind.
    if (!o.checkpoint && !hadCheckpoint) rmSync(checkpoint, { force: true });
    throw e;
  }
  const saved = saveModel(student, output);
  if (!o.checkpoint) rmSync(checkpoint, { force: true });
  const result: DistillModelResult = {
    ...r,
    ...(teacherPath ? { teacherPath } : {}),
    ...(studentPath ? { studentPath } : {}),
    output,
    saved,
    paramsBefore,
    paramsAfter: params(student),
    ...(shrink ? { shrink } : {}),
  };
  if (test) {
    result.comparison = await runCompare(reference, output, {
      backend: 'node',
      data: test,
      ...(testLimit ? { limit: testLimit } : {}),
      ...(o.logits ? { output: o.logits } : {}),
      latency: !!latency,
    }).catch((e: Error) => {
      rmSync(output, { force: true });
      throw new Error(`measuring the result on ${test}: ${e.message}; nothing written`);
    });
    result.testedOn = test;
  }
  return result;
}

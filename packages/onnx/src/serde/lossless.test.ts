/**
 * What the conformance suite does not exercise: unknown fields (from newer ONNX versions) at every
 * level, functions, sparse initializers, training info, metadata and doc strings. Each must
 * survive load → save byte for byte, and be visible in the IR where the IR models it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import { AttrType } from '../ir/attr.js';
import { DataType } from '../ir/dtype.js';
import { toFloat32 } from '../ir/tensor.js';
import { decodeModel } from './decode.js';
import { serializeModel } from './io.js';
import { AttributeProto_AttributeType, ModelProtoSchema, TensorProtoSchema, type ModelProto } from './proto/onnx_pb.js';

/** An unknown varint field with a number no ONNX version uses. */
const unknown = (no: number) => [{ no, wireType: 0, data: new Uint8Array([no & 0x7f]) }];

function richModel(): ModelProto {
  const t = (name: string, dims: number[], values: number[]) =>
    create(TensorProtoSchema, {
      name,
      dims: dims.map(BigInt),
      dataType: DataType.FLOAT,
      floatData: values,
      docString: `doc of ${name}`,
    });
  const body = {
    name: 'then',
    node: [{ opType: 'Identity', input: ['x'], output: ['t_out'], name: 'inner' }],
    output: [
      {
        name: 't_out',
        type: {
          value: {
            case: 'tensorType' as const,
            value: { elemType: DataType.FLOAT, shape: { dim: [{ value: { case: 'dimValue' as const, value: 2n } }] } },
          },
        },
      },
    ],
  };
  const m = create(ModelProtoSchema, {
    irVersion: 8n,
    opsetImport: [
      { domain: '', version: 15n },
      { domain: 'custom.fn', version: 1n },
    ],
    producerName: 'hand',
    producerVersion: '0',
    docString: 'a model with everything',
    metadataProps: [{ key: 'author', value: 'edgeforge' }],
    graph: {
      name: 'main',
      docString: 'main graph',
      input: [
        {
          name: 'x',
          type: {
            value: {
              case: 'tensorType',
              value: {
                elemType: DataType.FLOAT,
                shape: { dim: [{ value: { case: 'dimParam', value: 'N' }, denotation: 'DATA_BATCH' }] },
              },
            },
          },
        },
        { name: 'c', type: { value: { case: 'tensorType', value: { elemType: DataType.BOOL, shape: { dim: [] } } } } },
      ],
      output: [{ name: 'y', docString: 'the output' }],
      initializer: [t('w', [2], [1.5, -2])],
      sparseInitializer: [
        {
          values: t('s', [2], [3, 4]),
          indices: create(TensorProtoSchema, {
            name: 's_idx',
            dims: [2n],
            dataType: DataType.INT64,
            int64Data: [0n, 3n],
          }),
          dims: [4n],
        },
      ],
      node: [
        {
          opType: 'If',
          input: ['c'],
          output: ['if_out'],
          name: 'if',
          attribute: [
            { name: 'then_branch', type: AttributeProto_AttributeType.GRAPH, g: body, $unknown: unknown(99) } as never,
            { name: 'else_branch', type: AttributeProto_AttributeType.GRAPH, g: { ...body, name: 'else' } },
          ],
        },
        {
          opType: 'Twice',
          domain: 'custom.fn',
          input: ['if_out'],
          output: ['y'],
          name: 'call',
          docString: 'calls a function',
          metadataProps: [{ key: 'k', value: 'v' }],
        },
      ],
      metadataProps: [{ key: 'g', value: '1' }],
    },
    functions: [
      {
        name: 'Twice',
        domain: 'custom.fn',
        input: ['a'],
        output: ['b'],
        attribute: ['unused'],
        node: [{ opType: 'Add', input: ['a', 'a'], output: ['b'] }],
        opsetImport: [{ domain: '', version: 15n }],
        docString: 'a + a',
      },
    ],
    trainingInfo: [{ algorithm: { name: 'algo' } }],
  });
  m.$unknown = unknown(100);
  m.graph!.$unknown = unknown(101);
  m.graph!.node[1].$unknown = unknown(102);
  m.graph!.initializer[0].$unknown = unknown(103);
  return m;
}

describe('lossless load/save', () => {
  it('keeps unknown fields, functions, sparse initializers, training info and docs byte for byte', () => {
    const bytes = toBinary(ModelProtoSchema, richModel());
    const model = decodeModel(bytes);
    const again = serializeModel(model);
    assert.deepEqual(Buffer.from(again), Buffer.from(bytes));
  });

  it('exposes them in the IR', () => {
    const model = decodeModel(toBinary(ModelProtoSchema, richModel()));
    assert.equal(model.docString, 'a model with everything');
    assert.deepEqual(model.metadataProps, [['author', 'edgeforge']]);
    assert.equal(model.functions[0].name, 'Twice');
    assert.deepEqual(
      model.functions[0].graph.nodes().map((n) => n.opType),
      ['Add'],
    );
    const a = model.functions[0].graph.inputs[0];
    assert.equal(a.uses().length, 2, 'function bodies are graphs with use lists too');
    const g = model.graph;
    assert.equal(g.inputs[0].type?.kind, 'tensor');
    assert.deepEqual(g.inputs[0].type?.kind === 'tensor' ? g.inputs[0].type.shape : undefined, ['N']);
    assert.equal(g.sparseInitializers.get('s')?.tensor.dims[0], 4);
    assert.deepEqual(Array.from(toFloat32(g.initializers.get('w')!.const!)), [1.5, -2]);
    assert.equal(g.initializers.get('w')!.const!.docString, 'doc of w');
    const ifNode = g.nodes()[0];
    const then = ifNode.attributes.get('then_branch')!;
    assert.equal(then.type, AttrType.GRAPH);
    const sub = ifNode.subgraphs()[0];
    assert.equal(sub.parentNode, ifNode);
    // The subgraph's Identity reads the outer `x`: one Value, with the inner node among its uses.
    assert.equal(sub.nodes()[0].inputs[0], g.inputs[0]);
    assert.ok(g.inputs[0].uses().some((u) => u.node === sub.nodes()[0]));
    assert.equal(g.outputs[0].docString, 'the output');
  });
});

/**
 * Sequences and optionals: the element type travels (SequenceConstruct/Empty/Insert/Erase/At,
 * SplitToSequence, ConcatFromSequence, SequenceLength; Optional, OptionalGetElement,
 * OptionalHasElement). Element shapes are joined dim by dim when several tensors meet.
 */
import { AttrType } from '../../../ir/attr.js';
import { DataType } from '../../../ir/dtype.js';
import type { Dim, TensorType, TypeInfo } from '../../../ir/types.js';
import { asTensor, joinTensorTypes, rules, type InferContext, type OpRule } from '../../context.js';
import { normAxis } from '../../dims.js';

function seqElem(t: TypeInfo | undefined): TensorType | undefined {
  return t && t.kind === 'sequence' ? asTensor(t.elem) : undefined;
}

function seqOf(elem: TensorType | undefined): TypeInfo | undefined {
  return elem ? { kind: 'sequence', elem } : undefined;
}

function sequenceConstruct(ctx: InferContext): void {
  const types: (TensorType | undefined)[] = [];
  for (let i = 0; i < ctx.inputCount; i++) types.push(ctx.tensor(i));
  ctx.setType(0, seqOf(joinTensorTypes(types)));
}

function sequenceEmpty(ctx: InferContext): void {
  ctx.setType(0, seqOf({ kind: 'tensor', elemType: ctx.int('dtype', DataType.FLOAT) }));
}

function sequenceInsert(ctx: InferContext): void {
  const s = seqElem(ctx.type(0));
  const t = ctx.tensor(1);
  // An empty sequence's element has no shape yet: the inserted tensor's type then describes it only if alone.
  ctx.setType(0, seqOf(s && t ? joinTensorTypes([s, t]) : undefined));
}

function sequenceErase(ctx: InferContext): void {
  ctx.setType(0, seqOf(seqElem(ctx.type(0))));
}

function sequenceAt(ctx: InferContext): void {
  ctx.setType(0, seqElem(ctx.type(0)));
}

function sequenceLength(ctx: InferContext): void {
  ctx.set(0, DataType.INT64, []);
}

function splitToSequence(ctx: InferContext): void {
  const elem = ctx.elemType(0);
  const x = ctx.shape(0);
  if (elem === undefined) return;
  if (!x) {
    ctx.setType(0, seqOf({ kind: 'tensor', elemType: elem }));
    return;
  }
  const axis = normAxis(ctx.int('axis', 0), x.length);
  const keep = ctx.int('keepdims', 1) === 1;
  const shape: Dim[] = ctx.has(1) ? x.map((d, i) => (i === axis ? null : d)) : keep ? x.map((d, i) => (i === axis ? 1 : d)) : x.filter((_, i) => i !== axis);
  ctx.setType(0, seqOf({ kind: 'tensor', elemType: elem, shape }));
}

function concatFromSequence(ctx: InferContext): void {
  const e = seqElem(ctx.type(0));
  if (!e) return;
  if (!e.shape) {
    ctx.set(0, e.elemType);
    return;
  }
  const newAxis = ctx.int('new_axis', 0) === 1;
  const rank = e.shape.length + (newAxis ? 1 : 0);
  const axis = normAxis(ctx.int('axis', 0), rank);
  const shape = [...e.shape];
  if (newAxis) shape.splice(axis, 0, null);
  else shape[axis] = null;
  ctx.set(0, e.elemType, shape);
}

function optional(ctx: InferContext): void {
  const a = ctx.node.attributes.get('type');
  const inner = ctx.has(0) ? ctx.type(0) : a && a.type === AttrType.TYPE_PROTO ? a.value : undefined;
  if (inner) ctx.setType(0, { kind: 'optional', elem: inner });
}

function optionalGetElement(ctx: InferContext): void {
  const t = ctx.type(0);
  ctx.setType(0, t && t.kind === 'optional' ? t.elem : t);
}

function optionalHasElement(ctx: InferContext): void {
  ctx.set(0, DataType.BOOL, []);
}

export const sequenceRules: OpRule[] = [
  ...rules(['SequenceConstruct'], sequenceConstruct),
  ...rules(['SequenceEmpty'], sequenceEmpty),
  ...rules(['SequenceInsert'], sequenceInsert),
  ...rules(['SequenceErase'], sequenceErase),
  ...rules(['SequenceAt'], sequenceAt),
  ...rules(['SequenceLength'], sequenceLength),
  ...rules(['SplitToSequence'], splitToSequence),
  ...rules(['ConcatFromSequence'], concatFromSequence),
  ...rules(['Optional'], optional),
  ...rules(['OptionalGetElement'], optionalGetElement),
  ...rules(['OptionalHasElement'], optionalHasElement),
];

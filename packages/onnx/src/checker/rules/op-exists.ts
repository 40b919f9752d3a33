/**
 * `op-exists`: every ai.onnx node names an operator that exists at the opset its graph imports.
 *
 * Errors (ORT 1.30 refuses): an op whose first since-version is above the opset, e.g.
 * GreaterOrEqual (since 12) in an opset-10 model ("No Op registered for GreaterOrEqual with
 * domain_version of 10"); an op whose schema at that opset is deprecated: Upsample at opset ≥ 10,
 * Scatter at ≥ 11 ("Op registered for Upsample is deprecated in domain_version of 10").
 *
 * Not errors, because ORT loads them: LayerNormalization, MeanVarianceNormalization and
 * ThresholdedRelu below their since-version (ORT registers its own ai.onnx schemas for them from
 * opset 1), GroupNormalization-18 (deprecated in ONNX, loaded by ORT). Ops not in `OP_VERSIONS`
 * and other domains are left alone. A node without an ai.onnx import is checked at opset 26, the
 * one ORT assumes.
 */
import { OP_VERSIONS, schemaVersion } from '../../ir/op-versions.js';
import { normDomain } from '../context.js';
import { ORT_MAX_OPSET } from '../ort.js';
import type { Rule } from '../types.js';

/** ai.onnx ops ORT 1.30 registers from opset 1 although ONNX introduced them later (contrib schemas). */
const ORT_FROM_OPSET_1: ReadonlySet<string> = new Set([
  'LayerNormalization',
  'MeanVarianceNormalization',
  'ThresholdedRelu',
]);

/** Deprecated schema versions ORT 1.30 refuses (measured; it loads GroupNormalization-18). */
const ORT_DEPRECATED: Readonly<Record<string, number>> = { Upsample: 10, Scatter: 11 };

export const opExists: Rule = {
  name: 'op-exists',
  description: 'every ai.onnx op exists (and is not deprecated) at the opset its graph imports',
  check(ctx, report) {
    const localFns = new Set(ctx.model.functions.filter((f) => normDomain(f.domain) === '').map((f) => f.name));
    for (const info of ctx.graphs) {
      const opset = ctx.onnxOpset(info) ?? ORT_MAX_OPSET.get('');
      if (opset === undefined || !(opset >= 1)) continue; // ir-version reports a missing or zero import
      for (const n of info.nodes) {
        if (normDomain(n.domain) !== '' || localFns.has(n.opType)) continue;
        const versions = OP_VERSIONS[n.opType];
        if (!versions) continue;
        const v = schemaVersion(n.opType, opset);
        if (v === undefined) {
          if (ORT_FROM_OPSET_1.has(n.opType)) continue;
          report.error(
            { graph: info, node: n },
            `${n.opType} does not exist at ai.onnx opset ${opset} (it starts at opset ${versions[0]}; ORT: "No Op registered for ${n.opType} with domain_version of ${opset}")`,
          );
        } else if (ORT_DEPRECATED[n.opType] === v) {
          report.error(
            { graph: info, node: n },
            `${n.opType} is deprecated from ai.onnx opset ${v} on, and this graph imports opset ${opset} (ORT: "Op registered for ${n.opType} is deprecated in domain_version of ${opset}")`,
          );
        }
      }
    }
  },
};

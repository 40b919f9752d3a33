/**
 * `ir-version`: the model's IR version and operator set imports.
 *
 * Errors (ORT 1.30 refuses): IR version above 13 ("Unsupported model IR version: 14, max supported
 * IR version: 13"); no opset import at all ("Missing opset in the model"); an opset above what ORT
 * ships (ai.onnx 26, ai.onnx.ml 5, com.microsoft 1); a node of a domain the model does not import,
 * unless ORT registers that domain itself ("No opset import for domain 'x'"; model-local functions
 * need their domain imported too); a used domain imported at version < 1; a function body using a
 * domain its function does not import (checked at load even for functions nobody calls); at
 * IR < 4, a subgraph initializer that is not also an input of that subgraph.
 *
 * Warnings (ORT loads, the spec or `onnx.helper.VERSION_TABLE` disagrees): an IR version lower
 * than the ai.onnx opset needs (`irVersionForOpset`); IR < 3 (no opset_import yet) or unset;
 * a node of an ORT built-in domain (ai.onnx, ai.onnx.ml, com.microsoft …) without an import, where
 * ORT silently assumes its newest version; at IR < 4, a main-graph initializer that is not a graph input;
 * the default domain imported twice (as '' and as 'ai.onnx').
 */
import { MAX_IR_VERSION, irVersionForOpset } from '../../ir/model.js';
import type { Node } from '../../ir/node.js';
import type { GraphInfo } from '../context.js';
import { domainName, normDomain } from '../context.js';
import { ORT_BUILTIN_DOMAINS, ORT_MAX_OPSET } from '../ort.js';
import type { Rule } from '../types.js';

export const irVersion: Rule = {
  name: 'ir-version',
  description:
    'IR version ≤ 13 and covering the ai.onnx opset; opsets within what ORT 1.30 ships; every domain used is imported',
  check(ctx, report) {
    const m = ctx.model;
    const ir = m.irVersion;
    if (ir > MAX_IR_VERSION) {
      report.error(
        {},
        `IR version ${ir} is newer than onnxruntime 1.30 supports (max ${MAX_IR_VERSION}); write irVersionForOpset(${m.opset || 'opset'}) = ${irVersionForOpset(m.opset)} instead`,
      );
    } else if (!(ir > 0)) {
      report.warning({}, `the model's IR version is not set (ORT loads it; onnx.checker refuses it)`);
    } else if (ir < 3) {
      report.warning(
        {},
        `IR version ${ir} predates opset_import (IR ≥ 3); ORT loads it, onnx.checker refuses "model with IR version < 3 cannot have opset_import specified"`,
      );
    }

    if (m.opsetImports.size === 0)
      report.error({}, `the model imports no operator set (ORT: "Missing opset in the model")`);
    if (m.opsetImports.has('') && m.opsetImports.has('ai.onnx')) {
      report.warning(
        {},
        `the default domain is imported twice, as '' (${m.opsetImports.get('')}) and as 'ai.onnx' (${m.opsetImports.get('ai.onnx')})`,
      );
    }
    for (const [d, version] of m.opsetImports) {
      const max = ORT_MAX_OPSET.get(normDomain(d));
      if (max !== undefined && version > max) {
        report.error({}, `${domainName(d)} opset ${version} is newer than onnxruntime 1.30 supports (max ${max})`);
      }
    }
    for (const info of ctx.graphs) {
      if (info.kind !== 'function' || !info.fn) continue;
      for (const [d, version] of info.fn.opsetImports) {
        const max = ORT_MAX_OPSET.get(normDomain(d));
        if (max !== undefined && version > max) {
          report.error(
            { graph: info },
            `the function imports ${domainName(d)} opset ${version}, newer than onnxruntime 1.30 supports (max ${max})`,
            { loadTime: true },
          );
        }
      }
    }

    const onnx = m.opsetImports.get('') ?? m.opsetImports.get('ai.onnx');
    if (onnx !== undefined && onnx >= 1 && ir >= 3 && ir <= MAX_IR_VERSION && ir < irVersionForOpset(onnx)) {
      report.warning(
        {},
        `IR version ${ir} is lower than ai.onnx opset ${onnx} needs (IR ${irVersionForOpset(onnx)}, onnx.helper.VERSION_TABLE); ORT loads it, but write irVersionForOpset(${onnx})`,
      );
    }

    if (ir > 0 && ir < 4) {
      for (const info of ctx.graphs) {
        if (info.fn) continue;
        const inputNames = new Set(info.graph.inputs.map((x) => x.name));
        for (const name of info.graph.initializers.keys()) {
          if (inputNames.has(name)) continue;
          // ORT checks this in subgraphs only ("w in initializer but not in graph input").
          if (info.kind === 'main') {
            report.warning(
              { graph: info },
              `initializer '${name}' is not a graph input, which IR ${ir} (< 4) requires (ORT loads it anyway)`,
            );
          } else {
            report.error(
              { graph: info },
              `initializer '${name}' of a subgraph is not one of its inputs, which IR ${ir} (< 4) requires (ORT: "${name} in initializer but not in graph input")`,
            );
          }
        }
      }
    }

    // Domains used by nodes, per scope of imports (the model, or one function).
    const uses = new Map<string, { info: GraphInfo; domain: string; first: Node; count: number }>();
    for (const info of ctx.graphs) {
      for (const n of info.nodes) {
        const d = normDomain(n.domain);
        const key = `${info.fn ? `${info.fn.domain}::${info.fn.name}` : ''}\u0000${d}`;
        const u = uses.get(key);
        if (u) u.count++;
        else uses.set(key, { info, domain: d, first: n, count: 1 });
      }
    }
    for (const { info, domain, first, count } of uses.values()) {
      const opsets = ctx.opsets(info);
      const version = opsets.get(domain);
      const who = count > 1 ? `this node and ${count - 1} more` : 'this node';
      const verb = count > 1 ? 'use' : 'uses';
      const at = { graph: info, node: first };
      if (version === undefined) {
        if (info.fn) {
          // ORT builds a schema for every model function at load, called or not.
          report.error(
            at,
            `${who} ${verb} domain ${domainName(domain)}, which function ${info.fn.name} does not import (ORT: "No opset registered for domain in function opset imports")`,
            {
              loadTime: true,
            },
          );
        } else if (ORT_BUILTIN_DOMAINS.has(domain)) {
          report.warning(
            at,
            `${who} ${verb} domain ${domainName(domain)}, which the model does not import; ORT assumes its newest ${domainName(domain)} opset, which may change what the op means`,
          );
        } else {
          report.error(
            at,
            `${who} ${verb} domain '${domain}', which the model does not import (ORT: "No opset import for domain '${domain}'")`,
          );
        }
      } else if (version < 1) {
        report.error(
          at,
          `${who} ${verb} domain ${domainName(domain)}, imported at version ${version}; opset versions start at 1`,
        );
      }
    }
  },
};

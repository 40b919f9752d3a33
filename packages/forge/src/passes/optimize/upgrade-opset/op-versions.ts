// Since-versions of ai.onnx ops (OP_VERSIONS, schemaVersion, versionsCrossed) live in @edgeforge/onnx,
// which the checker shares; this file keeps what only the upgrader needs.

/**
 * Since-versions (≥ 7) of ai.onnx ops that onnxruntime 1.30's CPU provider cannot run although it
 * loads the opset: it has kernels for earlier versions only. ORT matches an open-ended kernel
 * registration (`since N`) to nodes of since-version N exactly, so a RoiAlign-22 finds no kernel
 * ("Could not find an implementation for RoiAlign(22)"). Read from
 * `onnxruntime.capi._pybind_state.get_all_opkernel_def()` of onnxruntime 1.30.0 with that matching
 * rule; Bernoulli has no kernel and ORT expands its body, which uses RandomUniformLike-22.
 */
export const ORT_CPU_MISSING: Readonly<Record<string, readonly number[]>> = {
  Attention: [25],
  Bernoulli: [22],
  GlobalLpPool: [22],
  MaxRoiPool: [22],
  Multinomial: [22],
  RandomNormal: [22],
  RandomNormalLike: [22],
  RandomUniform: [22],
  RandomUniformLike: [22],
  RoiAlign: [22],
};

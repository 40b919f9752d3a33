/**
 * quantize-static on the reference models (models/reference) with min/max calibration: default
 * optimize recipe first (BN folded), calibration on 500 training images, top-1 on 2000 test images
 * through onnxruntime-node. Asserts: top-1 drop ≤ 1 pt, file ≤ 0.3× the original float file, every
 * Conv and Gemm an int8 kernel in onnxruntime's optimized graph. (Percentile and entropy:
 * calibrate.models.test.ts.)
 */
import { before, describe, it } from 'node:test';
import { ensureModels } from '../../../../../tools/models.ts';
import {
  REFERENCE_CALIBRATION,
  REFERENCE_TEST,
  assertReference,
  describeReference,
  quantizeReference,
} from './testing/static-testing.js';

describe('quantize-static: reference models', () => {
  before(() => ensureModels());

  for (const name of ['mnist-cnn', 'fashion-resnet'] as const) {
    it(`${name}: int8 top-1 within 1 pt of float, ≤ 0.3× the file, Conv/Gemm as int8 kernels`, async () => {
      const [r] = await quantizeReference(name, ['minmax'], {
        calibration: REFERENCE_CALIBRATION,
        test: REFERENCE_TEST,
      });
      console.log(describeReference(name, r, REFERENCE_TEST));
      assertReference(r);
    });
  }
});

/**
 * Percentile (99.999, symmetric) and entropy calibration on the Fashion-MNIST ResNet: the same
 * bounds as min/max in quantize-static.models.test.ts (top-1 drop ≤ 1 pt on 2000 test images after
 * calibrating on 500 training images, file ≤ 0.3×, every Conv/Gemm an int8 kernel).
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

describe('calibration methods on a reference model', () => {
  before(() => ensureModels());

  it('fashion-resnet: percentile and entropy within 1 pt of float', async () => {
    const results = await quantizeReference('fashion-resnet', ['percentile', 'entropy'], {
      calibration: REFERENCE_CALIBRATION,
      test: REFERENCE_TEST,
    });
    for (const r of results) {
      console.log(describeReference('fashion-resnet', r, REFERENCE_TEST));
      assertReference(r);
    }
  });
});

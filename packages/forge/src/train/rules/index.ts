/** Every gradient rule, by ai.onnx op type. */
import type { GradientRule } from '../autodiff.js';
import { ELEMENTWISE_RULES } from './elementwise.js';
import { LINEAR_RULES } from './linear.js';
import { NORM_RULES } from './norm.js';
import { POOL_RULES } from './pool.js';
import { REDUCE_RULES } from './reduce.js';
import { SHAPE_RULES } from './shape.js';

export const GRADIENT_RULES: Readonly<Record<string, GradientRule>> = {
  ...ELEMENTWISE_RULES,
  ...LINEAR_RULES,
  ...POOL_RULES,
  ...SHAPE_RULES,
  ...REDUCE_RULES,
  ...NORM_RULES,
};

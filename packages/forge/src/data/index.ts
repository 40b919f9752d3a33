/**
 * @module
 * Datasets for evaluation, calibration and benchmarks: batches of model inputs (and class labels)
 * streamed from a data spec (`--data <spec>`): idx (MNIST), npy, npz, JSON, image folders, or
 * synthetic inputs made from the model's signature. See README.md for the spec syntax.
 *
 * @example
 * ```ts
 * import { openDataset } from './data/index.js';
 * const data = await openDataset('images:val/,size=224x224,mean=imagenet,std=imagenet', {
 *   inputs: session.inputs,
 *   batchSize: 32,
 * });
 * for await (const { inputs, labels, indices } of data) await session.run(inputs);
 * ```
 */
export { openDataset, type Batch, type Dataset, type DatasetInput, type DatasetOptions } from './dataset.js';
export { parseDataSpec, FORMATS, type DataFormat, type DataSpec } from './spec.js';
export { DataError } from './errors.js';

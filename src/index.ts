/**
 * rxfeed: machine-learning input pipelines as RxJS Observables.
 *
 * Importing this entry loads no driver: sources over MongoDB, object stores, TFRecord and the
 * worker-thread and tfjs adapters live behind their own subpath exports.
 *
 * @module rxfeed
 */
export * from './errors.js';
export * from './flow.js';
export * from './context.js';
export * from './operate.js';
export { Pump } from './pump.js';
export * from './info.js';
export * from './limits.js';
export * from './dispose.js';
export * from './loader.js';
export { PipelineReport, LOOP_WAIT_THRESHOLD, SATURATED, type StageReport, type Bottleneck } from './report.js';
export {
  AUTOTUNE_CHANGE,
  AUTOTUNE_MARGIN,
  AUTOTUNE_MEMORY_FRACTION,
  AUTOTUNE_PERIOD_MS,
  AUTOTUNE_RETRY_PERIODS,
  AUTOTUNE_GROWTH,
  PREFETCH_AUTO_INITIAL,
  PREFETCH_AUTO_MAX,
  autotuneDecisions,
  tune,
  type AutotuneOptions,
  type Knob,
  type KnobDecision,
  type KnobKind,
  type KnobSpec,
} from './autotune.js';
export { oneBatch } from './oneBatch.js';
export { LoaderStateError, type LoaderState } from './loaderState.js';
export { OriginList, type Ledger, type Origin, type Origins } from './origins.js';
export * from '../sources/core/puller.js';
export { DatasetClosedError, type RandomAccess, type RandomAccessLayout } from '../sources/core/randomAccess.js';
export { fromRandomAccess, type FromRandomAccessOptions } from '../sources/core/fromRandomAccess.js';
export { itemsDataset } from '../sources/core/itemsDataset.js';
export { fromResource } from '../sources/core/fromResource.js';
export { subsetDataset } from '../sources/core/subsetDataset.js';
export { mixDatasets, type MixDatasetsOptions } from '../sources/core/mixDatasets.js';
export { IndexPermutation } from './indexPermutation.js';
export { RankPlan, WorkerShare, type EndOfEpoch, type RankSequence } from './rankPlan.js';
export {
  blockShuffle,
  globalShuffle,
  indexList,
  orderOf,
  sequential,
  skipOrder,
  takeOrder,
  type IndexOrder,
  type OrderFunction,
  type Sampler,
  type SamplerSpec,
} from './sampler.js';
export { fromPuller } from '../sources/core/fromPuller.js';
export { fromItems, type ItemsInput, type FromItemsOptions } from '../sources/core/fromItems.js';
export * from './distributed.js';
export * from './executor.js';
export type { ByteSource } from '../sources/core/byteSource.js';
export { fileByteSource, FileReadError, type FileReadErrorCode } from '../sources/core/fileByteSource.js';
export { PARALLEL_MAP_AUTO_MAX, parallelMap, type ParallelMapOptions } from '../operators/parallelMap.js';
export { shard, type ShardOptions } from '../operators/shard.js';
export { prefetch } from '../operators/prefetch.js';
export { epochs, type EpochsOptions } from '../operators/epochs.js';
export { hooks, SkipItem, type DataLoaderHooks, type HooksOptions } from '../operators/hooks.js';
export { progress, type ProgressOptions, type ProgressOutput } from '../operators/progress.js';
export { Random, deriveSeed, permutation, randomSeed, type RandomState } from './random.js';
export { shuffleBuffer, type ShuffleBufferOptions } from '../operators/shuffleBuffer.js';
export { concatSources } from '../operators/concatSources.js';
export { interleave, type InterleaveOptions, type InterleaveSource } from '../operators/interleave.js';
export { mix, type MixOptions } from '../operators/mix.js';
export { zipShards } from '../operators/zipShards.js';
export { isPaddedBatch, type DType, type NumericDType, type DTypeStorage, type HostTensor, type PaddedBatch } from './tensor.js';
export { collateBatch, type CollatedPaddedBatch, type Collated, type CollateResult } from './collate.js';
export { type RaggedPolicy, type MissingPolicy, type FieldCollateOptions, type CollateOptions } from './collateOptions.js';
export { batch, type BatchOptions } from '../operators/batch.js';
export { collate } from '../operators/collate.js';
export { padToBatch, SizeMismatchError, NoPadTemplateError, type PadToBatchOptions } from '../operators/padToBatch.js';
export {
  DeviceConversionError,
  deviceExtras,
  typedArrayAdapter,
  type DeviceAdapter,
  type DeviceBatch,
  type DeviceExtras,
  type TypedArrayTensor,
} from './device.js';
export * from '../operators/toDevice.js';
export { measureHeadspace, type Headspace, type MeasureHeadspaceOptions } from './headspace.js';

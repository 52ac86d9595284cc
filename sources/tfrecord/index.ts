/**
 * `rxfeed/tfrecord`: TFRecord files, `tf.train.Example` / `SequenceExample` decoding, TFDS
 * prepared directories, and a TFRecord writer.
 *
 * @module rxfeed/tfrecord
 */
export {
  CorruptRecordError,
  FeatureError,
  MalformedExampleError,
  RecordIndexError,
  TfdsError,
  TfdsMetadataError,
  TooManyCorruptRecordsError,
  type CorruptionReason,
  type FeatureMismatch,
  type RecordIndexErrorCode,
  type RecordLocation,
} from './errors.js';
export { maskedCrc32c } from './crc32c.js';
export {
  decodeExample,
  decodeSequenceExample,
  type Example,
  type ExampleDecodeOptions,
  type FeatureValue,
  type Int64Mode,
  type SequenceExample,
} from './example.js';
export { encodeExample, type ExampleInput, type FeatureInput } from './exampleEncoder.js';
export {
  fixedLenFeature,
  parseExample,
  parseSequenceExample,
  varLenFeature,
  type FeatureDefault,
  type FeatureDtype,
  type FeatureSpec,
  type FixedLenFeature,
  type ParsedExample,
  type ParsedSequenceExample,
  type ParsedValue,
  type SequenceFeatureSpec,
  type VarLenFeature,
} from './featureSpec.js';
export {
  fromTFRecord,
  SkipLedger,
  type CustomRecordOptions,
  type ExampleRecordOptions,
  type FromTFRecordOptions,
  type RawRecordOptions,
  type RecordDecoder,
  type SequenceExampleRecordOptions,
  type SkippedRecord,
  type TFRecordCompression,
  type TFRecordOptions,
} from './fromTFRecord.js';
export { toTFRecord, tfrecordFrame, type TFRecordInput, type TFRecordWritten, type ToTFRecordOptions } from './toTFRecord.js';
export { sharpImageDecoder, type DecodedImage, type ImageDecoder, type ImageExpectation } from './imageDecoder.js';
export type { TfdsExample, TfdsNumericArray, TfdsValue } from './tfdsFeatures.js';
export {
  fromTfds,
  parseTfdsInfo,
  readTfdsInfo,
  resolveTfdsSplit,
  type FromTfdsOptions,
  type TfdsInfo,
  type TfdsSplitInfo,
  type TfdsSplitRange,
} from './tfds.js';
export {
  buildRecordIndex,
  readRecordIndex,
  writeRecordIndex,
  type BuildRecordIndexOptions,
  type ReadRecordIndexOptions,
  type TFRecordIndex,
} from './recordIndex.js';
export { tfrecordDataset, type RecordDatasetOptions, type TFRecordDataset, type TFRecordDatasetOptions } from './tfrecordDataset.js';
export { tfdsDataset, type TfdsDatasetOptions } from './tfdsDataset.js';

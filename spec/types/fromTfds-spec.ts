/**
 * Type tests (issue 14): `tsc -p tsconfig.json` compiles this file, so a wrong type fails the build.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { expectTypeOf } from 'expect-type';
import { firstValueFrom, type Observable } from 'rxjs';
import { oneBatch, toLoader, type Loader, type RandomAccess } from '../../src/index.js';
import { fromTfds, tfdsDataset, type DecodedImage, type TfdsExample, type TfdsValue } from '../../sources/tfrecord/index.js';
import { bridgeDir } from '../sources/tfrecord/paths.js';

// bridge_dataset's features.json, written with the values the fromTfds notes give each feature:
// an interface, as users write them (no index signature).
interface Step {
  action: Float32Array; // Tensor float32 [7]
  language_embedding: Float32Array; // Tensor float32 [512]
  is_first: boolean; // Scalar bool
  reward: number; // Scalar float32
  language_instruction: string; // Text
  observation: { image_0: Uint8Array; state: Float32Array }; // Image (encoded), Tensor float32 [7]
}
interface Episode {
  steps: Step[]; // Dataset of a FeaturesDict
  episode_metadata: { file_path: string; episode_id: number; has_image_0: boolean };
}

describe('types: fromTfds and tfdsDataset take the type of their examples (issue 14)', () => {
  it('issue 14: without a type parameter an example is a TfdsExample, a tree of TfdsValues', async () => {
    const examples = fromTfds(bridgeDir, { split: 'train[:1]' });
    expectTypeOf(examples).toEqualTypeOf<Observable<TfdsExample>>();
    expectTypeOf<TfdsExample['steps']>().toEqualTypeOf<TfdsValue>();
    const first = await firstValueFrom(examples);
    assert.ok(Array.isArray(first.steps));
  });

  it('issue 14: fromTfds<Episode> types every level of an example, with no cast, and the values are those types', async () => {
    const episodes = fromTfds<Episode>(bridgeDir, { split: 'train[:2]' });
    expectTypeOf(episodes).toEqualTypeOf<Observable<Episode>>();
    expectTypeOf(toLoader(episodes)).toEqualTypeOf<Loader<Episode>>();
    const episode = await oneBatch(episodes);
    expectTypeOf(episode.steps[0]!.observation.state).toEqualTypeOf<Float32Array>();
    expectTypeOf(episode.episode_metadata.file_path).toEqualTypeOf<string>();
    // @ts-expect-error a feature the type does not name is not there
    void episode.steps[0]!.observation.image_9;
    const step = episode.steps[0]!;
    assert.ok(step.action instanceof Float32Array && step.action.length === 7);
    assert.ok(step.language_embedding instanceof Float32Array && step.language_embedding.length === 512);
    assert.equal(typeof step.is_first, 'boolean');
    assert.equal(typeof step.reward, 'number');
    assert.equal(typeof step.language_instruction, 'string');
    assert.ok(step.observation.image_0 instanceof Uint8Array);
    assert.ok(step.observation.state instanceof Float32Array && step.observation.state.length === 7);
    assert.equal(typeof episode.episode_metadata.file_path, 'string');
    assert.equal(typeof episode.episode_metadata.episode_id, 'number');
    assert.equal(typeof episode.episode_metadata.has_image_0, 'boolean');
  });

  it('issue 14: with decodeImages an Image feature is a DecodedImage', async () => {
    type Decoded = { steps: { observation: { image_0: DecodedImage } }[] };
    const episode = await oneBatch(fromTfds<Decoded>(bridgeDir, { split: 'train[:1]', decodeImages: true }));
    expectTypeOf(episode.steps[0]!.observation.image_0.shape).toEqualTypeOf<[height: number, width: number, channels: number]>();
    assert.deepEqual(episode.steps[0]!.observation.image_0.shape, [64, 64, 3]);
  });

  it('issue 14: tfdsDataset<Episode> reads Episodes by index; an example type is an object', async () => {
    const dataset = await tfdsDataset<Episode>(bridgeDir, 'val[:2]');
    try {
      expectTypeOf(dataset).toExtend<RandomAccess<Episode>>();
      const [episode] = await dataset.read([1]);
      expectTypeOf(episode!.steps).toEqualTypeOf<Step[]>();
      assert.ok(episode!.steps[0]!.action instanceof Float32Array);
    } finally {
      await dataset.close();
    }
    // @ts-expect-error an example is an object (a FeaturesDict), never a bare value
    expectTypeOf(fromTfds<number>).toBeFunction();
  });
});

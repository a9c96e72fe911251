/** Backbone descriptors: the published HSEmotion ones, and validation naming the faulty field. */
import test from 'ava';
import { AFFECTNET_EXPRESSIONS } from '../datasets/labels.ts';
import {
  DescriptorError,
  getBackbone,
  HSEMOTION_BACKBONES,
  IMAGENET_MEAN,
  registerBackbone,
  validateDescriptor,
} from '../models/registry.ts';
import { openStore } from '../storage/objectStore.ts';
import { testConfig } from './helpers/env.ts';

const SPEC_TABLE: Record<string, [size: number, mean: number, embedding: number, scores: number]> = {
  enet_b0_8_best_vgaf: [224, 0.485, 1280, 8],
  enet_b0_8_best_afew: [224, 0.485, 1280, 8],
  enet_b0_8_va_mtl: [224, 0.485, 1280, 10],
  enet_b2_8: [260, 0.485, 1408, 8],
  enet_b2_7: [260, 0.485, 1408, 7],
  mbf_va_mtl: [112, 0.5, 512, 10],
  mobilevit_va_mtl: [224, 0.485, 768, 10],
};

test('the HSEmotion descriptors follow SPEC §2 and survive a JSON round trip through validation', (t) => {
  t.deepEqual(HSEMOTION_BACKBONES.map((d) => d.name).sort(), Object.keys(SPEC_TABLE).sort());
  for (const d of HSEMOTION_BACKBONES) {
    const [size, mean, embedding, scores] = SPEC_TABLE[d.name]!;
    t.is(d.inputSize, size, d.name);
    t.is(d.mean[0], mean, d.name);
    t.is(d.embeddingDim, embedding, d.name);
    t.is(d.scoresDim, scores, d.name);
    t.is(d.scoreLabels.length, scores, d.name);
    t.is(d.inputName, 'input');
    t.is(d.scoresOutput, 'output');
    t.is(d.embeddingOutput, 'embedding');
    t.true(Object.isFrozen(d));
    t.deepEqual(d.source, {
      kind: 'url',
      url: `https://raw.githubusercontent.com/HSE-asavchenko/face-emotion-recognition/main/models/affectnet_emotions/onnx/${d.name}.onnx`,
      sha256: undefined,
    });
    t.deepEqual(validateDescriptor(JSON.parse(JSON.stringify(d)), d.name), d);
    t.is(getBackbone(d.name), d);
  }
  t.deepEqual(getBackbone('enet_b2_7').scoreLabels, [
    'Anger',
    'Disgust',
    'Fear',
    'Happiness',
    'Neutral',
    'Sadness',
    'Surprise',
  ]);
  t.deepEqual(getBackbone('mbf_va_mtl').scoreLabels, [...AFFECTNET_EXPRESSIONS, 'Valence', 'Arousal']);
  t.deepEqual(getBackbone('mbf_va_mtl').std, [0.5, 0.5, 0.5]);
  t.deepEqual(getBackbone('enet_b0_8_best_afew').std, [0.229, 0.224, 0.225]);
  t.deepEqual([...getBackbone('enet_b0_8_best_afew').mean], [...IMAGENET_MEAN]);
});

const GOOD = {
  name: 'my-backbone',
  version: '2',
  source: { kind: 'url', url: 'https://example.org/m.onnx', sha256: 'ab'.repeat(32) },
  inputSize: 112,
  mean: [0.5, 0.5, 0.5],
  std: [0.5, 0.5, 0.5],
  channelOrder: 'RGB',
  layout: 'NCHW',
  inputName: 'input',
  embeddingOutput: 'embedding',
  scoresOutput: 'output',
  embeddingDim: 512,
  scoresDim: 2,
  scoreLabels: ['Valence', 'Arousal'],
};

test('a good user descriptor validates to the same values', (t) => {
  t.deepEqual(validateDescriptor(GOOD, 'my.json'), GOOD);
});

const BAD: [field: string, patch: Record<string, unknown>][] = [
  ['name', { name: '' }],
  ['name', { name: '../escape' }],
  ['version', { version: 3 }],
  ['source', { source: { kind: 'ftp' } }],
  ['source.url', { source: { kind: 'url', url: 'models/m.onnx' } }],
  ['source.sha256', { source: { kind: 'url', url: 'https://example.org/m.onnx', sha256: 'ABC' } }],
  ['inputSize', { inputSize: 0 }],
  ['inputSize', { inputSize: 112.5 }],
  ['mean', { mean: [0.5, 0.5] }],
  ['std', { std: [0.5, 0, 0.5] }],
  ['channelOrder', { channelOrder: 'GBR' }],
  ['layout', { layout: 'NHWC' }],
  ['inputName', { inputName: '' }],
  ['embeddingOutput', { embeddingOutput: undefined }],
  ['scoresOutput', { scoresOutput: 7 }],
  ['embeddingDim', { embeddingDim: -1 }],
  ['scoresDim', { scoresDim: '2' }],
  ['scoreLabels', { scoreLabels: ['Valence'] }],
];

for (const [field, patch] of BAD) {
  test(`a descriptor with a bad ${field} (${JSON.stringify(patch)}) is refused naming ${field}`, (t) => {
    const error = t.throws(() => validateDescriptor({ ...GOOD, ...patch }, 'my.json'), {
      instanceOf: DescriptorError,
    });
    t.is(error.field, field);
    t.true(error.message.startsWith(`backbone descriptor my.json: ${field}: `), error.message);
  });
}

test('a descriptor that is not an object is refused', (t) => {
  const error = t.throws(() => validateDescriptor([GOOD], 'list.json'), { instanceOf: DescriptorError });
  t.is(error.field, '(root)');
});

test('a user descriptor cannot replace a published HSEmotion backbone', async (t) => {
  const store = openStore(testConfig('local', 'models-registry').store);
  try {
    const error = await t.throwsAsync(registerBackbone(store, { ...GOOD, name: 'enet_b2_8' }, 'mine.json'), {
      instanceOf: DescriptorError,
    });
    t.is(error.field, 'name');
    const mine = await registerBackbone(store, GOOD, 'mine.json');
    t.is(getBackbone('my-backbone'), mine);
  } finally {
    store.close();
  }
});

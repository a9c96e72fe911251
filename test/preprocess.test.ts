/**
 * Backbone preprocessing against an independent reference: PIL Image.resize(BILINEAR) + numpy
 * normalisation (what torchvision's Resize does for the HSEmotion backbones), on crops of the
 * real portraits and on generated frames, for 112/224/260 and both normalisations, and the bare
 * resize on random shapes. The resize is PIL's bit for bit, so the only difference allowed is
 * float32 rounding after normalisation (docs/FRAMES.md).
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import {
  CropError,
  decodeImage,
  encodeCrop,
  ImageError,
  preprocessCrop,
  preprocessCrops,
  type PixelRect,
  type RgbImage,
} from '../media/preprocess.ts';
import { decodeRgbPng, encodeRgbPng, PngError } from '../media/png.ts';
import { resizeBilinearRgb } from '../media/resample.ts';
import { decodeJpegRows } from '../media/jpeg.ts';
import { IMAGENET_MEAN, IMAGENET_STD } from '../models/registry.ts';
import { python } from './helpers/env.ts';

const FACES = join(import.meta.dirname, 'fixtures', 'faces');

const NORMALISATIONS = {
  imagenet: { mean: [...IMAGENET_MEAN], std: [...IMAGENET_STD] },
  half: { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
} as const;

const REFERENCE = `
import sys, json, base64, io
import numpy as np
from PIL import Image
req = json.load(sys.stdin)
img = Image.open(io.BytesIO(base64.b64decode(req["png"]))).convert("RGB")
s = req["size"]
x = np.asarray(img.resize((s, s), Image.BILINEAR), dtype=np.float64) / 255.0
x = (x - np.array(req["mean"])) / np.array(req["std"])
print(json.dumps(np.ascontiguousarray(x.transpose(2, 0, 1)).ravel().tolist()))
`;

interface Case {
  readonly name: string;
  readonly png: Uint8Array;
  readonly width: number;
  readonly height: number;
}

async function portraitCrop(file: string, rect: PixelRect | null): Promise<Case> {
  const image = await decodeImage(readFileSync(join(FACES, file)));
  const crop = await encodeCrop(image, 4096, rect ?? undefined);
  return {
    name: `${file} ${rect ? `${rect.width}x${rect.height}` : 'whole'}`,
    png: crop.png,
    width: crop.width,
    height: crop.height,
  };
}

/** A generated frame with hard edges, gradients and noise: the worst case for resampling. */
async function generatedFrame(width: number, height: number, seed: number): Promise<Case> {
  const rgb = new Uint8Array(width * height * 3);
  let a = seed;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      a = (a * 1103515245 + 12345) >>> 0;
      const o = (y * width + x) * 3;
      rgb[o] = (x * 255) / width;
      rgb[o + 1] = ((x >> 3) + (y >> 3)) & 1 ? 230 : 20;
      rgb[o + 2] = (a >>> 24) & 0xff;
    }
  const frame: RgbImage = { width, height, rgb };
  const crop = await encodeCrop(frame, 4096);
  return { name: `generated ${width}x${height}`, png: crop.png, width, height };
}

const cases: Promise<Case>[] = [
  portraitCrop('portrait-1.jpg', { left: 371, top: 90, width: 240, height: 329 }),
  portraitCrop('portrait-2.jpg', { left: 427, top: 177, width: 286, height: 398 }),
  portraitCrop('portrait-1.jpg', { left: 450, top: 200, width: 60, height: 70 }),
  portraitCrop('portrait-2.jpg', null),
  generatedFrame(96, 80, 1),
  generatedFrame(300, 200, 2),
];

for (const [index, pending] of cases.entries()) {
  for (const size of [112, 224, 260]) {
    for (const [normName, norm] of Object.entries(NORMALISATIONS)) {
      test(`preprocess matches PIL + numpy: case ${index} at ${size}, ${normName}`, async (t) => {
        const crop = await pending;
        const out = new Float32Array(3 * size * size + 5).fill(Number.NaN);
        const descriptor = { inputSize: size, mean: norm.mean, std: norm.std, channelOrder: 'RGB' } as const;
        await preprocessCrop(crop.png, descriptor, out, 5);
        const reference = python<number[]>(REFERENCE, {
          png: Buffer.from(crop.png).toString('base64'),
          size,
          mean: norm.mean,
          std: norm.std,
        });
        t.is(reference.length, 3 * size * size);
        const plane = size * size;
        let max = 0;
        let border = 0;
        let sum = 0;
        for (let i = 0; i < reference.length; i++) {
          const level = Math.abs(out[5 + i]! - reference[i]!) * 255 * norm.std[Math.floor(i / plane)]!;
          const x = i % size;
          const y = Math.floor((i % plane) / size);
          if (x === 0 || y === 0 || x === size - 1 || y === size - 1) border = Math.max(border, level);
          else max = Math.max(max, level);
          sum += level;
        }
        const mean = sum / reference.length;
        t.log(
          `${crop.name} -> ${size} ${normName}: max ${max.toFixed(4)} levels inside, ${border.toFixed(4)} on the border, mean ${mean.toFixed(5)}`,
        );
        // Float32 rounding of the normalised value is ~1e-5 levels; one level would be a resize bug.
        t.true(max < 1e-3, `max ${max} levels inside`);
        t.true(border < 1e-3, `max ${border} levels on the border`);
      });
    }
  }
}

test('BGR backbones get channels swapped with mean/std in their own order', async (t) => {
  const crop = await cases[4]!;
  const rgb = new Float32Array(3 * 112 * 112);
  const bgr = new Float32Array(3 * 112 * 112);
  const norm = NORMALISATIONS.half;
  await preprocessCrop(crop.png, { inputSize: 112, ...norm, channelOrder: 'RGB' }, rgb, 0);
  await preprocessCrop(crop.png, { inputSize: 112, ...norm, channelOrder: 'BGR' }, bgr, 0);
  const plane = 112 * 112;
  t.deepEqual(bgr.subarray(0, plane), rgb.subarray(2 * plane));
  t.deepEqual(bgr.subarray(2 * plane), rgb.subarray(0, plane));
});

test('greyscale and alpha crops become three-channel RGB', async (t) => {
  const grey = await sharp({
    create: { width: 50, height: 40, channels: 4, background: { r: 100, g: 100, b: 100, alpha: 0.5 } },
  })
    .greyscale()
    .png()
    .toBuffer();
  const decoded = await decodeImage(new Uint8Array(grey));
  t.deepEqual([decoded.width, decoded.height, decoded.rgb.length], [50, 40, 50 * 40 * 3]);
});

const RESIZE_REFERENCE = `
import sys, json, base64
import numpy as np
from PIL import Image
out = []
for c in json.load(sys.stdin):
    rgb = np.frombuffer(base64.b64decode(c["rgb"]), dtype=np.uint8).reshape(c["h"], c["w"], 3)
    resized = Image.fromarray(rgb).resize((c["ow"], c["oh"]), Image.BILINEAR)
    out.append(base64.b64encode(np.asarray(resized).tobytes()).decode())
print(json.dumps(out))
`;

test('the resize equals PIL bit for bit on random shapes, both pass orders, up and down', (t) => {
  let a = 7;
  const next = (n: number): number => {
    a = (a * 1103515245 + 12345) >>> 0;
    return a % n;
  };
  const shapes = Array.from({ length: 40 }, () => ({
    w: 8 + next(400),
    h: 8 + next(400),
    ow: 4 + next(300),
    oh: 4 + next(300),
  }));
  // Both branches of Pillow's pass order, and one axis unchanged.
  shapes.push({ w: 120, h: 400, ow: 112, oh: 112 }, { w: 400, h: 120, ow: 112, oh: 112 });
  shapes.push({ w: 200, h: 300, ow: 200, oh: 112 }, { w: 300, h: 200, ow: 112, oh: 200 });
  const images = shapes.map(({ w, h }) => Uint8Array.from({ length: w * h * 3 }, () => next(256)));
  const reference = python<string[]>(
    RESIZE_REFERENCE,
    shapes.map((s, i) => ({ ...s, rgb: Buffer.from(images[i]!).toString('base64') })),
  );
  for (const [i, { w, h, ow, oh }] of shapes.entries()) {
    const ours = resizeBilinearRgb(images[i]!, w, h, ow, oh);
    const theirs = Buffer.from(reference[i]!, 'base64');
    let differing = 0;
    for (let j = 0; j < theirs.length; j++) if (ours[j] !== theirs[j]) differing++;
    t.is(ours.length, theirs.length, `${w}x${h} -> ${ow}x${oh}`);
    t.is(differing, 0, `${w}x${h} -> ${ow}x${oh}: ${differing} values differ from PIL`);
  }
});

test('a batch of crops preprocesses crop by crop, and a corrupt crop is named by its index', async (t) => {
  const crops = await Promise.all(cases);
  const spec = { inputSize: 112, ...NORMALISATIONS.imagenet, channelOrder: 'RGB' } as const;
  const plane = 3 * 112 * 112;
  const batch = await preprocessCrops(
    crops.map((c) => c.png),
    spec,
  );
  for (const [i, crop] of crops.entries()) {
    const one = new Float32Array(plane);
    await preprocessCrop(crop.png, spec, one, 0);
    t.deepEqual(batch.subarray(i * plane, (i + 1) * plane), one, `crop ${i}`);
  }
  const broken = crops.map((c) => c.png);
  broken[4] = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
  const err = await t.throwsAsync(preprocessCrops(broken, spec), { instanceOf: CropError });
  t.is(err.index, 4);
  t.regex(err.message, /crop 4 of the batch: image crop: cannot decode/);
});

test('the JPEG fast path decodes as sharp does; profiles and corrupt files go to sharp', async (t) => {
  // The portraits carry an ICC profile; sharp writes a JPEG without one, as datasets' crops are.
  const portrait = await sharp(readFileSync(join(FACES, 'portrait-1.jpg')))
    .jpeg({ quality: 95 })
    .toBuffer();
  t.is(decodeJpegRows(readFileSync(join(FACES, 'portrait-1.jpg'))), undefined, 'a profile goes to sharp');
  const reference = await sharp(portrait).raw().toBuffer({ resolveWithObject: true });
  const rows = decodeJpegRows(portrait);
  t.truthy(rows);
  t.is(rows!.pixelBytes, 4);
  t.deepEqual([rows!.width, rows!.height], [reference.info.width, reference.info.height]);
  let differing = 0;
  for (let p = 0; p < rows!.width * rows!.height; p++)
    for (let c = 0; c < 3; c++) if (rows!.data[p * 4 + c] !== reference.data[p * 3 + c]) differing++;
  t.is(differing, 0, 'pixels that differ from sharp (libjpeg-turbo defaults)');
  // The crop as a JPEG preprocesses to the same tensor as its pixels handed over as PNG.
  const spec = { inputSize: 224, ...NORMALISATIONS.imagenet, channelOrder: 'RGB' } as const;
  const plane = 3 * 224 * 224;
  const viaJpeg = new Float32Array(plane);
  const viaPng = new Float32Array(plane);
  await preprocessCrop(portrait, spec, viaJpeg, 0);
  const png = await sharp(reference.data, { raw: reference.info }).png().toBuffer();
  await preprocessCrop(png, spec, viaPng, 0);
  t.deepEqual(viaJpeg, viaPng);

  const withProfile = await sharp(portrait).withIccProfile('p3').jpeg().toBuffer();
  t.is(decodeJpegRows(withProfile), undefined, 'an ICC profile is left to sharp, which converts to sRGB');
  const corrupt = Uint8Array.from(portrait.subarray(0, 600));
  t.is(decodeJpegRows(corrupt), undefined);
  await t.throwsAsync(preprocessCrop(corrupt, spec, viaJpeg, 0), { instanceOf: ImageError });
  // The decoder still works after refusing a corrupt file.
  t.truthy(decodeJpegRows(portrait));
});

test('the PNG fast path decodes every row filter exactly as sharp does, and leaves other PNGs to sharp', async (t) => {
  const crop = await cases[0]!;
  const reference = await sharp(crop.png).raw().toBuffer();
  for (const adaptiveFiltering of [false, true]) {
    for (const compressionLevel of [0, 3, 9]) {
      const png = await sharp(reference, { raw: { width: crop.width, height: crop.height, channels: 3 } })
        .png({ adaptiveFiltering, compressionLevel })
        .toBuffer();
      const fast = decodeRgbPng(png);
      t.truthy(fast, `adaptiveFiltering ${adaptiveFiltering}, level ${compressionLevel}`);
      t.true(
        Buffer.from(fast!.rgb).equals(reference),
        `adaptiveFiltering ${adaptiveFiltering}, level ${compressionLevel}`,
      );
    }
  }
  const grey = await sharp(reference.subarray(0, crop.width * crop.height), {
    raw: { width: crop.width, height: crop.height, channels: 1 },
  })
    .toColourspace('b-w')
    .png()
    .toBuffer();
  t.is(decodeRgbPng(grey), undefined);
  const truncated = crop.png.subarray(0, crop.png.length >> 1);
  t.throws(() => decodeRgbPng(truncated), { instanceOf: PngError });
});

test('encodeCrop writes the region as a PNG that sharp and PIL decode to its pixels, with sharp where it resizes', async (t) => {
  const { rgb, width, height } = await decodeImage(readFileSync(join(FACES, 'portrait-1.jpg')));
  const frame: RgbImage = { width, height, rgb };
  const regions: PixelRect[] = [
    { left: 371, top: 90, width: 240, height: 329 },
    { left: 0, top: 0, width: 1, height: 1 },
    { left: width - 17, top: height - 5, width: 17, height: 5 },
    // Larger than one stored deflate block (65,535 bytes).
    { left: 100, top: 50, width: 250, height: 250 },
  ];
  for (const rect of regions) {
    const label = `${rect.width}x${rect.height} at ${rect.left},${rect.top}`;
    const crop = await encodeCrop(frame, 400, rect);
    t.deepEqual([crop.width, crop.height], [rect.width, rect.height], label);
    const expected = await sharp(rgb, { raw: { width, height, channels: 3 } })
      .extract(rect)
      .raw()
      .toBuffer();
    t.true((await sharp(crop.png).raw().toBuffer()).equals(expected), `${label}: sharp decodes it`);
    const viaPil = python<string>(
      `import base64, io, json, sys\nfrom PIL import Image\nreq = json.load(sys.stdin)\nimg = Image.open(io.BytesIO(base64.b64decode(req["png"])))\nimg.load()\nprint(json.dumps(base64.b64encode(img.convert("RGB").tobytes()).decode()))`,
      { png: Buffer.from(crop.png).toString('base64') },
    );
    t.true(Buffer.from(viaPil, 'base64').equals(expected), `${label}: PIL decodes it`);
  }
  t.throws(() => encodeRgbPng(rgb, width, { left: width - 2, top: 0, width: 3, height: 1 }), {
    instanceOf: RangeError,
  });
  // Past maxSide the crop is shrunk by sharp, as before.
  const shrunk = await encodeCrop(frame, 128, regions[0]);
  t.deepEqual([shrunk.width, shrunk.height], [Math.round((240 * 128) / 329), 128]);
});

// Files a user would load into the page, made here: PNG images (zlib from node), a zip of
// class folders (stored entries), and IDX image/label pairs.
import { deflateSync } from 'node:zlib';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

export function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** An RGB PNG of `w` x `h` pixels; `pixel(x, y)` gives [r, g, b]. */
export function png(w, h, pixel) {
  const raw = Buffer.alloc((3 * w + 1) * h);
  for (let y = 0; y < h; y++) {
    raw[y * (3 * w + 1)] = 0; // filter: none
    for (let x = 0; x < w; x++) {
      const [r, g, b] = pixel(x, y);
      raw.set([r, g, b], y * (3 * w + 1) + 1 + 3 * x);
    }
  }
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** A zip archive of stored files: [[path, Buffer], ...]. */
export function zip(files) {
  const parts = [];
  const dir = [];
  let offset = 0;
  for (const [name, data] of files) {
    const n = Buffer.from(name, 'utf8');
    const head = (central) => {
      const b = Buffer.alloc(central ? 46 : 30);
      let at = 0;
      b.writeUInt32LE(central ? 0x02014b50 : 0x04034b50, at); at += 4;
      if (central) { b.writeUInt16LE(20, at); at += 2; }
      b.writeUInt16LE(20, at); at += 2; // version needed
      b.writeUInt16LE(0, at); at += 2; // flags
      b.writeUInt16LE(0, at); at += 2; // stored
      at += 4; // time, date
      b.writeUInt32LE(crc32(data), at); at += 4;
      b.writeUInt32LE(data.length, at); at += 4;
      b.writeUInt32LE(data.length, at); at += 4;
      b.writeUInt16LE(n.length, at); at += 2;
      at += 2; // extra
      if (central) { at += 2 + 2 + 2 + 4; b.writeUInt32LE(offset, at); }
      return b;
    };
    const local = Buffer.concat([head(false), n, data]);
    dir.push(Buffer.concat([head(true), n]));
    parts.push(local);
    offset += local.length;
  }
  const central = Buffer.concat(dir);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(central.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, central, end]);
}

/** An IDX image file and its label file: `images` is an array of Uint8Arrays of h * w. */
export function idx(images, labels, h, w) {
  const img = Buffer.alloc(16 + images.length * h * w);
  img.writeUInt32BE(0x803, 0);
  img.writeUInt32BE(images.length, 4);
  img.writeUInt32BE(h, 8);
  img.writeUInt32BE(w, 12);
  images.forEach((im, i) => img.set(im, 16 + i * h * w));
  const lab = Buffer.alloc(8 + labels.length);
  lab.writeUInt32BE(0x801, 0);
  lab.writeUInt32BE(labels.length, 4);
  lab.set(labels, 8);
  return [img, lab];
}

/** Two classes a small network tells apart, as class folders of PNGs: red with a
 * horizontal bar, blue with a vertical one; 12 noisy 24 x 20 images each. */
export function shapesZip() {
  let seed = 7;
  const noise = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return (seed >> 16) % 40; };
  const files = [];
  for (const [cls, horizontal] of [['bars', true], ['columns', false]]) {
    for (let i = 0; i < 12; i++) {
      files.push([`shapes/${cls}/${String(i).padStart(2, '0')}.png`, png(24, 20, (x, y) => {
        const on = horizontal ? y >= 8 && y < 12 : x >= 10 && x < 14;
        const v = (on ? 200 : 20) + noise();
        return horizontal ? [v, 30, 30] : [30, 30, v];
      })]);
    }
  }
  files.push(['shapes/README.txt', Buffer.from('not data')]);
  return zip(files);
}

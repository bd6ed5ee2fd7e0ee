//! A minimal PNG writer for palette images: zlib with one fixed-Huffman deflate block
//! whose only back-references are runs (distance 1). Plots are mostly flat colour, so
//! this is small enough, and it keeps the harness free of an image crate.

/// An image of palette indices.
pub struct Canvas {
    pub w: usize,
    pub h: usize,
    pub px: Vec<u8>,
}

impl Canvas {
    /// A `w` x `h` canvas filled with colour `bg`.
    pub fn new(w: usize, h: usize, bg: u8) -> Canvas {
        Canvas {
            w,
            h,
            px: vec![bg; w * h],
        }
    }

    /// Sets one pixel (ignored outside the canvas).
    pub fn set(&mut self, x: i64, y: i64, c: u8) {
        if x >= 0 && y >= 0 && (x as usize) < self.w && (y as usize) < self.h {
            self.px[y as usize * self.w + x as usize] = c;
        }
    }

    /// Fills a rectangle (clipped).
    pub fn rect(&mut self, x0: i64, y0: i64, x1: i64, y1: i64, c: u8) {
        for y in y0.min(y1)..=y0.max(y1) {
            for x in x0.min(x1)..=x0.max(x1) {
                self.set(x, y, c);
            }
        }
    }
}

struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    fn put(&mut self, value: u32, count: u32) {
        self.acc |= u64::from(value) << self.n;
        self.n += count;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }
    /// Huffman codes go most-significant bit first.
    fn code(&mut self, code: u32, len: u32) {
        let mut rev = 0;
        for k in 0..len {
            rev |= ((code >> k) & 1) << (len - 1 - k);
        }
        self.put(rev, len);
    }
    fn symbol(&mut self, sym: u32) {
        match sym {
            0..=143 => self.code(0x30 + sym, 8),
            144..=255 => self.code(0x190 + sym - 144, 9),
            256..=279 => self.code(sym - 256, 7),
            _ => self.code(0xC0 + sym - 280, 8),
        }
    }
    fn length(&mut self, len: u32) {
        const BASE: [u32; 29] = [
            3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195,
            227, 258,
        ];
        const EXTRA: [u32; 29] = [
            0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
        ];
        let k = BASE.iter().rposition(|&b| b <= len).unwrap_or(0);
        self.symbol(257 + k as u32);
        if EXTRA[k] > 0 {
            self.put(len - BASE[k], EXTRA[k]);
        }
        self.code(0, 5); // distance 1
    }
}

/// zlib stream of `data`: runs become length/distance-1 pairs.
pub fn zlib(data: &[u8]) -> Vec<u8> {
    let mut b = Bits {
        out: vec![0x78, 0x01],
        acc: 0,
        n: 0,
    };
    b.put(1, 1); // final block
    b.put(1, 2); // fixed Huffman
    let mut k = 0;
    while k < data.len() {
        b.symbol(u32::from(data[k]));
        let mut run = 0;
        while k + 1 + run < data.len() && data[k + 1 + run] == data[k] && run < 258 {
            run += 1;
        }
        if run >= 3 {
            b.length(run as u32);
            k += 1 + run;
        } else {
            k += 1;
        }
    }
    b.symbol(256);
    b.put(0, 7);
    let mut out = b.out;
    let (mut s1, mut s2) = (1u32, 0u32);
    for &x in data {
        s1 = (s1 + u32::from(x)) % 65521;
        s2 = (s2 + s1) % 65521;
    }
    out.extend_from_slice(&((s2 << 16) | s1).to_be_bytes());
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(kind);
    h.update(data);
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&h.finalize().to_be_bytes());
}

/// The PNG file of `c` with `palette` (RGB triples).
pub fn encode(c: &Canvas, palette: &[[u8; 3]]) -> Vec<u8> {
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&(c.w as u32).to_be_bytes());
    ihdr.extend_from_slice(&(c.h as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, 3, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    let plte: Vec<u8> = palette.iter().flatten().copied().collect();
    chunk(&mut out, b"PLTE", &plte);
    let mut raw = Vec::with_capacity((c.w + 1) * c.h);
    for row in c.px.chunks(c.w) {
        raw.push(0);
        raw.extend_from_slice(row);
    }
    chunk(&mut out, b"IDAT", &zlib(&raw));
    chunk(&mut out, b"IEND", &[]);
    out
}

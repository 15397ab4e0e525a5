//! What a PyTorch checkpoint must look like before any of it is unpickled or allocated for.
//!
//! A `.pt` file is a zip archive whose `data.pkl` is a pickle program. Unpickling an untrusted
//! program can ask for any Python global, and even a reader that never executes code (ours, in
//! `pickle.rs`) can be driven to exponential memory use by duplicating memoised containers, or to
//! a huge allocation by a tensor whose shape exceeds its storage. So before anything is read we:
//!
//! - accept only uncompressed ("stored") zip entries, as `torch.save` writes them, which rules out
//!   zip bombs, and bound their number and sizes by the file's own size;
//! - walk the pickle opcode by opcode with a model of its stack that tracks how big every value
//!   would be (no value is built), rejecting globals outside [`ALLOWED_GLOBALS`], extension codes,
//!   malformed programs and programs whose values would exceed [`MAX_PICKLE_NODES`].
//!
//! Tensor shapes are checked against their storage sizes by the caller (`checkpoint.rs`).

use std::collections::HashMap;
use std::io::{Read, Seek};

use crate::error::{Error, Result};

/// The globals that published SegFace checkpoints (and `torch.save` of state dicts, optimizer
/// and scheduler state in general) need. Everything else is refused.
pub const ALLOWED_GLOBALS: &[(&str, &str)] = &[
    ("collections", "OrderedDict"),
    ("collections", "Counter"),
    ("collections", "defaultdict"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch", "FloatStorage"),
    ("torch", "DoubleStorage"),
    ("torch", "HalfStorage"),
    ("torch", "BFloat16Storage"),
    ("torch", "LongStorage"),
    ("torch", "IntStorage"),
    ("torch", "ShortStorage"),
    ("torch", "CharStorage"),
    ("torch", "ByteStorage"),
    ("torch", "BoolStorage"),
];

/// Most zip entries a checkpoint may have (the published one has a few hundred).
const MAX_ENTRIES: usize = 100_000;
/// Largest `data.pkl` accepted.
const MAX_PICKLE_BYTES: u64 = 64 << 20;
/// Most values (counting every element of every container) the pickle may describe.
pub const MAX_PICKLE_NODES: u64 = 10_000_000;

/// What screening found: every entry's size (to check tensor shapes against their storage), the
/// globals the pickle uses, and the pickle itself with the directory it sits in (the storages are
/// `<dir>data/<key>`).
pub struct ScreenedArchive {
    pub entry_sizes: HashMap<String, u64>,
    pub globals: Vec<String>,
    pub pickle: Vec<u8>,
    pub pickle_dir: String,
}

fn bad(message: impl Into<String>) -> Error {
    Error::invalid_model(message)
}

/// Checks the zip structure and the pickle of a checkpoint read from `file`.
pub fn screen_checkpoint<R: Read + Seek>(file: R, file_len: u64) -> Result<ScreenedArchive> {
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| bad(format!("not a zip-format PyTorch checkpoint: {e}")))?;
    if archive.len() > MAX_ENTRIES {
        return Err(bad(format!("the archive has {} entries (at most {MAX_ENTRIES})", archive.len())));
    }
    let mut entry_sizes = HashMap::new();
    let mut pickle_index = None;
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(|e| bad(format!("zip entry {i}: {e}")))?;
        let name = entry.name().map_err(|e| bad(format!("zip entry {i}: {e}")))?.to_string();
        if entry.compression() != zip::CompressionMethod::Stored {
            return Err(bad(format!(
                "zip entry `{name}` is compressed ({:?}); torch.save stores entries uncompressed",
                entry.compression()
            )));
        }
        if entry.size() > file_len || entry.compressed_size() != entry.size() {
            return Err(bad(format!(
                "zip entry `{name}` claims {} bytes, more than the file's {file_len}",
                entry.size()
            )));
        }
        let is_pickle = name == "data.pkl" || name.ends_with("/data.pkl");
        if is_pickle && pickle_index.replace(i).is_some() {
            return Err(bad("the archive has more than one data.pkl"));
        }
        entry_sizes.insert(name, entry.size());
    }
    let index = pickle_index.ok_or_else(|| bad("the archive has no data.pkl (not a torch.save file)"))?;
    let entry = archive.by_index(index).map_err(|e| bad(format!("data.pkl: {e}")))?;
    let name = entry.name().map_err(|e| bad(format!("data.pkl: {e}")))?;
    let pickle_dir = name.strip_suffix("data.pkl").unwrap_or_default().to_string();
    if entry.size() > MAX_PICKLE_BYTES {
        return Err(bad(format!("data.pkl has {} bytes (at most {MAX_PICKLE_BYTES})", entry.size())));
    }
    let mut program = Vec::with_capacity(entry.size() as usize);
    entry.take(MAX_PICKLE_BYTES).read_to_end(&mut program).map_err(|e| bad(format!("data.pkl: {e}")))?;
    let globals = screen_pickle(&program)?;
    Ok(ScreenedArchive { entry_sizes, globals, pickle: program, pickle_dir })
}

/// A value on the modelled stack: how many nodes it would hold, and its text if it is a string
/// (needed to know which global STACK_GLOBAL asks for).
#[derive(Clone)]
enum Item {
    Mark,
    Value { nodes: u64, text: Option<String> },
}

struct Machine {
    stack: Vec<Item>,
    memo: HashMap<u64, (u64, Option<String>)>,
    globals: Vec<String>,
}

impl Machine {
    fn push(&mut self, nodes: u64, text: Option<String>) -> Result<()> {
        if nodes > MAX_PICKLE_NODES {
            return Err(bad(format!("the pickle describes more than {MAX_PICKLE_NODES} values")));
        }
        self.stack.push(Item::Value { nodes, text });
        Ok(())
    }
    fn pop(&mut self) -> Result<(u64, Option<String>)> {
        match self.stack.pop() {
            Some(Item::Value { nodes, text }) => Ok((nodes, text)),
            _ => Err(bad("malformed pickle (stack underflow)")),
        }
    }
    /// Pops everything down to the last mark; the sum of their sizes.
    fn pop_to_mark(&mut self) -> Result<u64> {
        let mut total = 0u64;
        loop {
            match self.stack.pop() {
                Some(Item::Mark) => return Ok(total),
                Some(Item::Value { nodes, .. }) => total = total.saturating_add(nodes),
                None => return Err(bad("malformed pickle (no mark)")),
            }
        }
    }
    /// Adds `nodes` to the container on top of the stack.
    fn grow_top(&mut self, nodes: u64) -> Result<()> {
        let (top, _) = self.pop()?;
        self.push(top.saturating_add(nodes), None)
    }
    fn top(&self) -> Result<(u64, Option<String>)> {
        match self.stack.last() {
            Some(Item::Value { nodes, text }) => Ok((*nodes, text.clone())),
            _ => Err(bad("malformed pickle (memo store without a value)")),
        }
    }
    fn global(&mut self, module: &str, name: &str) -> Result<()> {
        if !ALLOWED_GLOBALS.iter().any(|(m, n)| *m == module && *n == name) {
            return Err(bad(format!(
                "the checkpoint's pickle asks for `{module}.{name}`, which a SegFace checkpoint never \
                 needs; refusing to read it"
            )));
        }
        let full = format!("{module}.{name}");
        if !self.globals.contains(&full) {
            self.globals.push(full);
        }
        self.push(1, None)
    }
}

/// A cursor over the pickle bytes (shared with the reader in `pickle.rs`).
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }
    pub(crate) fn take(&mut self, n: u64) -> Result<&'a [u8]> {
        let n = usize::try_from(n).map_err(|_| bad("malformed pickle (length)"))?;
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| bad("truncated pickle"))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    pub(crate) fn uint(&mut self, n: usize) -> Result<u64> {
        let raw = self.take(n as u64)?;
        Ok(raw.iter().rev().fold(0u64, |acc, &b| (acc << 8) | b as u64))
    }
    pub(crate) fn line(&mut self) -> Result<&'a str> {
        let rest = &self.bytes[self.pos..];
        let len = rest.iter().position(|&b| b == b'\n').ok_or_else(|| bad("truncated pickle"))?;
        self.pos += len + 1;
        std::str::from_utf8(&rest[..len]).map_err(|_| bad("malformed pickle (text is not UTF-8)"))
    }
    /// The memo slot a PUT, BINPUT, LONG_BINPUT or MEMOIZE (`op`) stores to; MEMOIZE takes the
    /// next one, `memo_len`.
    pub(crate) fn put_index(&mut self, op: u8, memo_len: usize) -> Result<u64> {
        match op {
            b'q' => self.uint(1),
            b'r' => self.uint(4),
            b'p' => self.line()?.trim().parse().map_err(|_| bad("malformed pickle (PUT index)")),
            _ => Ok(memo_len as u64),
        }
    }
    /// The memo slot a GET, BINGET or LONG_BINGET (`op`) reads.
    pub(crate) fn get_index(&mut self, op: u8) -> Result<u64> {
        match op {
            b'h' => self.uint(1),
            b'j' => self.uint(4),
            _ => self.line()?.trim().parse().map_err(|_| bad("malformed pickle (GET index)")),
        }
    }
}

/// Walks a pickle program; returns the globals it uses (all allowed) or the reason to refuse it.
pub fn screen_pickle(program: &[u8]) -> Result<Vec<String>> {
    let mut m = Machine { stack: Vec::new(), memo: HashMap::new(), globals: Vec::new() };
    let mut c = Cursor::new(program);
    loop {
        let op = *c.take(1)?.first().unwrap();
        match op {
            // PROTO, FRAME: no stack effect.
            0x80 => drop(c.take(1)?),
            0x95 => drop(c.take(8)?),
            b'.' => break, // STOP
            b'(' => m.stack.push(Item::Mark),
            // Scalars.
            b'N' | 0x88 | 0x89 => m.push(1, None)?,
            b'K' | b'M' | b'J' | b'G' => {
                c.take(match op {
                    b'K' => 1,
                    b'M' => 2,
                    b'J' => 4,
                    _ => 8,
                })?;
                m.push(1, None)?
            }
            b'I' | b'L' | b'F' => {
                c.line()?;
                m.push(1, None)?
            }
            0x8a => {
                let n = c.uint(1)?;
                c.take(n)?;
                m.push(1, None)?
            }
            0x8b => {
                let n = c.uint(4)?;
                c.take(n)?;
                m.push(1, None)?
            }
            // Strings and bytes (texts kept for STACK_GLOBAL).
            0x8c | b'X' | 0x8d => {
                let n = c.uint(match op {
                    0x8c => 1,
                    b'X' => 4,
                    _ => 8,
                })?;
                let text = std::str::from_utf8(c.take(n)?).ok().map(String::from);
                m.push(1, text)?
            }
            b'V' | b'S' => {
                let text = c.line()?.to_string();
                m.push(1, Some(text))?
            }
            b'U' | b'C' => {
                let n = c.uint(1)?;
                c.take(n)?;
                m.push(1, None)?
            }
            b'T' | b'B' => {
                let n = c.uint(4)?;
                c.take(n)?;
                m.push(1, None)?
            }
            0x8e | 0x96 => {
                let n = c.uint(8)?;
                c.take(n)?;
                m.push(1, None)?
            }
            // Empty containers.
            b']' | b'}' | b')' | 0x8f => m.push(1, None)?,
            // Containers built from the items above the last mark.
            b'l' | b'd' | b't' | 0x91 => {
                let n = m.pop_to_mark()?;
                m.push(n + 1, None)?
            }
            0x85..=0x87 => {
                let mut n = 1;
                for _ in 0..(op - 0x84) {
                    n += m.pop()?.0;
                }
                m.push(n, None)?
            }
            // Filling containers.
            b'a' => {
                let (n, _) = m.pop()?;
                m.grow_top(n)?
            }
            b's' => {
                let (v, _) = m.pop()?;
                let (k, _) = m.pop()?;
                m.grow_top(k + v)?
            }
            b'e' | b'u' | 0x90 => {
                let n = m.pop_to_mark()?;
                m.grow_top(n)?
            }
            // Globals: only the allowed ones.
            b'c' | b'i' => {
                let module = c.line()?.to_string();
                let name = c.line()?.to_string();
                m.global(&module, &name)?;
                if op == b'i' {
                    // INST: instantiate the class with the args above the mark.
                    let (class, _) = m.pop()?;
                    let args = m.pop_to_mark()?;
                    m.push(class + args + 1, None)?
                }
            }
            0x93 => {
                let (_, name) = m.pop()?;
                let (_, module) = m.pop()?;
                match (module, name) {
                    (Some(module), Some(name)) => m.global(&module, &name)?,
                    _ => return Err(bad("malformed pickle (STACK_GLOBAL without module and name strings)")),
                }
            }
            0x82..=0x84 => {
                return Err(bad("the checkpoint's pickle uses the extension registry; refusing it"))
            }
            // Calls and object building (the callables are globals checked above).
            b'R' | 0x81 => {
                let (a, _) = m.pop()?;
                let (f, _) = m.pop()?;
                m.push(a + f + 1, None)?
            }
            0x92 => {
                let (k, _) = m.pop()?;
                let (a, _) = m.pop()?;
                let (f, _) = m.pop()?;
                m.push(a + f + k + 1, None)?
            }
            b'o' => {
                let n = m.pop_to_mark()?;
                m.push(n + 1, None)?
            }
            b'b' => {
                let (state, _) = m.pop()?;
                m.grow_top(state)?
            }
            // Persistent ids (tensor storages).
            b'Q' => {
                let (n, _) = m.pop()?;
                m.push(n + 1, None)?
            }
            b'P' => {
                c.line()?;
                m.push(1, None)?
            }
            // Stack manipulation.
            b'0' => drop(m.pop()?),
            b'1' => drop(m.pop_to_mark()?),
            b'2' => {
                let (n, text) = m.top()?;
                m.push(n, text)?
            }
            // Memo.
            b'q' | b'r' | b'p' | 0x94 => {
                let index = c.put_index(op, m.memo.len())?;
                let top = m.top()?;
                m.memo.insert(index, top);
            }
            b'h' | b'j' | b'g' => {
                let index = c.get_index(op)?;
                let (n, text) = m.memo.get(&index).cloned().ok_or_else(|| bad("malformed pickle (memo)"))?;
                m.push(n, text)?
            }
            other => {
                return Err(bad(format!("the checkpoint's pickle has an unsupported opcode 0x{other:02x}")))
            }
        }
    }
    Ok(m.globals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_global_outside_the_allowlist() {
        // protocol 2: GLOBAL os.system, 'echo', TUPLE1, REDUCE, STOP
        let program = b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00echoq\x01\x85q\x02Rq\x03.";
        let err = screen_pickle(program).unwrap_err();
        assert!(err.message().contains("`os.system`"), "{err}");
    }

    #[test]
    fn refuses_a_stack_global_outside_the_allowlist() {
        let program = b"\x80\x04\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94.";
        let err = screen_pickle(program).unwrap_err();
        assert!(err.message().contains("`builtins.eval`"), "{err}");
    }

    #[test]
    fn refuses_exponential_memo_duplication() {
        // x0 = []; x_{k+1} = [x_k, x_k] via the memo, 40 times: 2^40 values if built.
        let mut program = b"\x80\x02]q\x00".to_vec();
        for k in 0..40u8 {
            program.extend_from_slice(&[b'(', b'h', k, b'h', k, b'l', b'q', k + 1]);
        }
        program.push(b'.');
        let err = screen_pickle(&program).unwrap_err();
        assert!(err.message().contains("more than"), "{err}");
    }

    #[test]
    fn refuses_truncated_and_malformed_programs() {
        assert!(screen_pickle(b"\x80\x02X\xff\xff\x00\x00ab").is_err());
        assert!(screen_pickle(b"\x80\x02a.").is_err());
        assert!(screen_pickle(b"\x80\x02h\x05.").is_err());
        assert!(screen_pickle(b"").is_err());
    }
}

//! The values of a `torch.save` pickle, read without executing anything.
//!
//! Runs only after `checkpoint_screen` accepted the program (allowed globals only, bounded size),
//! and knows what the allowed globals mean: `OrderedDict`, `defaultdict` and `Counter` build
//! dicts, `_rebuild_tensor_v2` a tensor over a storage named by a persistent id, and
//! `_rebuild_parameter` returns its tensor. Every other call or object is opaque (optimizer and
//! scheduler state are read past, not interpreted). Malformed programs are errors, never panics.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::convert::checkpoint_screen::Cursor;
use crate::error::{Error, Result};

/// The element types of tensor storages (`torch.FloatStorage`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageType {
    F32,
    F64,
    F16,
    BF16,
    /// Integer and boolean storages (`num_batches_tracked` buffers and the like).
    Other(usize),
}

impl StorageType {
    fn from_global(name: &str) -> Option<StorageType> {
        Some(match name {
            "FloatStorage" => StorageType::F32,
            "DoubleStorage" => StorageType::F64,
            "HalfStorage" => StorageType::F16,
            "BFloat16Storage" => StorageType::BF16,
            "LongStorage" => StorageType::Other(8),
            "IntStorage" => StorageType::Other(4),
            "ShortStorage" => StorageType::Other(2),
            "CharStorage" | "ByteStorage" | "BoolStorage" => StorageType::Other(1),
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            StorageType::F32 => 4,
            StorageType::F64 => 8,
            StorageType::F16 | StorageType::BF16 => 2,
            StorageType::Other(n) => n,
        }
    }
}

/// A tensor as the pickle describes it: a view of a storage (an entry `data/<key>` of the zip).
#[derive(Clone, Debug, PartialEq)]
pub struct TensorRef {
    pub storage_type: StorageType,
    pub storage_key: String,
    pub offset: u64,
    pub shape: Vec<u64>,
    pub strides: Vec<u64>,
}

/// A pickled value. Containers are shared, as the pickle's memo shares them.
#[derive(Clone)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Text(Rc<str>),
    List(Rc<RefCell<Vec<Value>>>),
    Tuple(Rc<[Value]>),
    Dict(Rc<RefCell<Vec<(Value, Value)>>>),
    Global(Rc<str>, Rc<str>),
    Storage(StorageType, Rc<str>),
    Tensor(Rc<TensorRef>),
    /// Floats, bytes, sets, big integers, and objects of calls this reader does not interpret.
    Opaque,
}

impl Value {
    /// The entries of a dict whose keys are texts.
    pub fn text_entries(&self) -> Vec<(Rc<str>, Value)> {
        match self {
            Value::Dict(items) => items
                .borrow()
                .iter()
                .filter_map(|(k, v)| match k {
                    Value::Text(k) => Some((k.clone(), v.clone())),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Int(i) => u64::try_from(*i).ok(),
            Value::Bool(b) => Some(*b as u64),
            _ => None,
        }
    }

    fn as_u64s(&self) -> Option<Vec<u64>> {
        match self {
            Value::Tuple(items) => items.iter().map(Value::as_u64).collect(),
            _ => None,
        }
    }
}

fn bad(message: impl Into<String>) -> Error {
    Error::invalid_model(format!("malformed pickle ({})", message.into()))
}

enum Slot {
    Mark,
    Value(Value),
}

struct Reader<'a> {
    c: Cursor<'a>,
    stack: Vec<Slot>,
    memo: HashMap<u64, Value>,
}

impl Reader<'_> {
    fn text(&mut self, len_bytes: usize) -> Result<Value> {
        let n = self.c.uint(len_bytes)?;
        let raw = self.c.take(n)?;
        Ok(Value::Text(String::from_utf8_lossy(raw).into()))
    }
    fn push(&mut self, value: Value) {
        self.stack.push(Slot::Value(value));
    }
    fn pop(&mut self) -> Result<Value> {
        match self.stack.pop() {
            Some(Slot::Value(v)) => Ok(v),
            _ => Err(bad("stack underflow")),
        }
    }
    fn top(&self) -> Result<&Value> {
        match self.stack.last() {
            Some(Slot::Value(v)) => Ok(v),
            _ => Err(bad("no value on the stack")),
        }
    }
    fn pop_to_mark(&mut self) -> Result<Vec<Value>> {
        let mut items = Vec::new();
        loop {
            match self.stack.pop() {
                Some(Slot::Mark) => break,
                Some(Slot::Value(v)) => items.push(v),
                None => return Err(bad("no mark")),
            }
        }
        items.reverse();
        Ok(items)
    }
    fn append(&mut self, items: Vec<Value>) -> Result<()> {
        match self.top()? {
            Value::List(list) => list.borrow_mut().extend(items),
            Value::Opaque => {}
            _ => return Err(bad("append to a value that is not a list")),
        }
        Ok(())
    }
    fn set_items(&mut self, items: Vec<Value>) -> Result<()> {
        if !items.len().is_multiple_of(2) {
            return Err(bad("a key without a value"));
        }
        match self.top()? {
            Value::Dict(dict) => {
                let mut dict = dict.borrow_mut();
                let mut items = items.into_iter();
                while let (Some(k), Some(v)) = (items.next(), items.next()) {
                    dict.push((k, v));
                }
            }
            Value::Opaque => {}
            _ => return Err(bad("setitem on a value that is not a dict")),
        }
        Ok(())
    }
}

/// What calling an allowed global with `args` gives.
fn call(callable: &Value, args: &Value) -> Result<Value> {
    let Value::Global(module, name) = callable else { return Ok(Value::Opaque) };
    let args: &[Value] = match args {
        Value::Tuple(items) => items,
        _ => &[],
    };
    Ok(match (&**module, &**name) {
        ("collections", "OrderedDict" | "defaultdict" | "Counter") => Value::Dict(Default::default()),
        ("torch._utils", "_rebuild_parameter") => args.first().cloned().unwrap_or(Value::Opaque),
        ("torch._utils", "_rebuild_tensor_v2") => {
            let (Some(Value::Storage(storage_type, key)), Some(offset), Some(shape), Some(strides)) = (
                args.first(),
                args.get(1).and_then(Value::as_u64),
                args.get(2).and_then(Value::as_u64s),
                args.get(3).and_then(Value::as_u64s),
            ) else {
                return Err(bad("_rebuild_tensor_v2 without (storage, offset, size, stride)"));
            };
            if shape.len() != strides.len() {
                return Err(bad("a tensor whose size and stride differ in length"));
            }
            Value::Tensor(Rc::new(TensorRef {
                storage_type: *storage_type,
                storage_key: key.to_string(),
                offset,
                shape,
                strides,
            }))
        }
        _ => Value::Opaque,
    })
}

/// A persistent id `('storage', torch.XStorage, key, location, numel)` names a storage.
fn persistent_load(pid: &Value) -> Result<Value> {
    if let Value::Tuple(items) = pid {
        if let [Value::Text(kind), Value::Global(_, name), Value::Text(key), ..] = &items[..] {
            if &**kind == "storage" {
                let storage_type =
                    StorageType::from_global(name).ok_or_else(|| bad(format!("storage type {name}")))?;
                return Ok(Value::Storage(storage_type, key.clone()));
            }
        }
    }
    Err(bad("a persistent id that is not a storage"))
}

/// Reads a pickle program (screened beforehand) to the value it builds.
pub fn read_pickle(program: &[u8]) -> Result<Value> {
    let mut r = Reader { c: Cursor::new(program), stack: Vec::new(), memo: HashMap::new() };
    loop {
        let op = r.c.take(1)?[0];
        match op {
            0x80 => drop(r.c.take(1)?),
            0x95 => drop(r.c.take(8)?),
            b'.' => return r.pop(),
            b'(' => r.stack.push(Slot::Mark),
            b'N' => r.push(Value::None),
            0x88 => r.push(Value::Bool(true)),
            0x89 => r.push(Value::Bool(false)),
            b'K' => {
                let v = r.c.uint(1)? as i64;
                r.push(Value::Int(v))
            }
            b'M' => {
                let v = r.c.uint(2)? as i64;
                r.push(Value::Int(v))
            }
            b'J' => {
                let v = r.c.uint(4)? as u32 as i32 as i64;
                r.push(Value::Int(v))
            }
            b'G' => {
                r.c.take(8)?;
                r.push(Value::Opaque)
            }
            b'I' | b'L' => {
                let line = r.c.line()?.trim_end_matches('L');
                r.push(match line {
                    "00" => Value::Bool(false),
                    "01" => Value::Bool(true),
                    _ => line.parse().map(Value::Int).unwrap_or(Value::Opaque),
                })
            }
            b'F' => {
                r.c.line()?;
                r.push(Value::Opaque)
            }
            0x8a | 0x8b => {
                let n = r.c.uint(if op == 0x8a { 1 } else { 4 })?;
                let raw = r.c.take(n)?;
                let value = if raw.len() <= 8 {
                    // Little-endian two's complement, sign-extended.
                    let fill = if raw.last().is_some_and(|&b| b & 0x80 != 0) { 0xff } else { 0 };
                    let mut bytes = [fill; 8];
                    bytes[..raw.len()].copy_from_slice(raw);
                    Value::Int(i64::from_le_bytes(bytes))
                } else {
                    Value::Opaque
                };
                r.push(value)
            }
            0x8c => {
                let v = r.text(1)?;
                r.push(v)
            }
            b'X' | b'T' => {
                let v = r.text(4)?;
                r.push(v)
            }
            0x8d => {
                let v = r.text(8)?;
                r.push(v)
            }
            b'U' => {
                let v = r.text(1)?;
                r.push(v)
            }
            b'V' => {
                let v = Value::Text(r.c.line()?.into());
                r.push(v)
            }
            b'S' => {
                let v = Value::Text(r.c.line()?.trim_matches(|c| c == '\'' || c == '"').into());
                r.push(v)
            }
            b'C' | b'B' | 0x8e | 0x96 => {
                let n = r.c.uint(match op {
                    b'C' => 1,
                    b'B' => 4,
                    _ => 8,
                })?;
                r.c.take(n)?;
                r.push(Value::Opaque)
            }
            b']' => r.push(Value::List(Default::default())),
            b'}' => r.push(Value::Dict(Default::default())),
            b')' => r.push(Value::Tuple(Rc::new([]))),
            0x8f => r.push(Value::Opaque),
            b'l' => {
                let items = r.pop_to_mark()?;
                r.push(Value::List(Rc::new(RefCell::new(items))))
            }
            b't' => {
                let items = r.pop_to_mark()?;
                r.push(Value::Tuple(items.into()))
            }
            b'd' => {
                let items = r.pop_to_mark()?;
                r.push(Value::Dict(Default::default()));
                r.set_items(items)?
            }
            0x91 => {
                r.pop_to_mark()?;
                r.push(Value::Opaque)
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(r.pop()?);
                }
                items.reverse();
                r.push(Value::Tuple(items.into()))
            }
            b'a' => {
                let v = r.pop()?;
                r.append(vec![v])?
            }
            b'e' => {
                let items = r.pop_to_mark()?;
                r.append(items)?
            }
            b's' => {
                let v = r.pop()?;
                let k = r.pop()?;
                r.set_items(vec![k, v])?
            }
            b'u' => {
                let items = r.pop_to_mark()?;
                r.set_items(items)?
            }
            0x90 => {
                r.pop_to_mark()?;
                r.top()?;
            }
            b'c' => {
                let module = r.c.line()?.into();
                let name = r.c.line()?.into();
                r.push(Value::Global(module, name))
            }
            0x93 => {
                let name = r.pop()?;
                let module = r.pop()?;
                let (Value::Text(module), Value::Text(name)) = (module, name) else {
                    return Err(bad("STACK_GLOBAL without module and name"));
                };
                r.push(Value::Global(module, name))
            }
            b'i' => {
                r.c.line()?;
                r.c.line()?;
                r.pop_to_mark()?;
                r.push(Value::Opaque)
            }
            b'R' => {
                let args = r.pop()?;
                let callable = r.pop()?;
                let v = call(&callable, &args)?;
                r.push(v)
            }
            0x81 => {
                let _args = r.pop()?;
                let class = r.pop()?;
                let v = call(&class, &Value::Tuple(Rc::new([])))?;
                r.push(v)
            }
            0x92 => {
                let _kwargs = r.pop()?;
                let _args = r.pop()?;
                let class = r.pop()?;
                let v = call(&class, &Value::Tuple(Rc::new([])))?;
                r.push(v)
            }
            b'o' => {
                r.pop_to_mark()?;
                r.push(Value::Opaque)
            }
            b'b' => {
                r.pop()?;
                r.top()?;
            }
            b'Q' => {
                let pid = r.pop()?;
                let v = persistent_load(&pid)?;
                r.push(v)
            }
            b'0' => drop(r.pop()?),
            b'1' => drop(r.pop_to_mark()?),
            b'2' => {
                let v = r.top()?.clone();
                r.push(v)
            }
            b'q' | b'r' | b'p' | 0x94 => {
                let index = r.c.put_index(op, r.memo.len())?;
                let v = r.top()?.clone();
                r.memo.insert(index, v);
            }
            b'h' | b'j' | b'g' => {
                let index = r.c.get_index(op)?;
                let v = r.memo.get(&index).cloned().ok_or_else(|| bad("memo"))?;
                r.push(v)
            }
            other => return Err(bad(format!("opcode 0x{other:02x}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_ordered_dict_of_one_tensor() {
        // torch.save({'w': tensor([0.5, -1.0])}) with protocol 2, as tests/common/torch_files.rs
        // writes it.
        let mut p = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00w".to_vec();
        p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\nq\x02((X\x07\x00\x00\x00storage");
        p.extend_from_slice(b"ctorch\nFloatStorage\nq\x03X\x01\x00\x00\x000X\x03\x00\x00\x00cpu");
        p.extend_from_slice(b"K\x02tQK\x00K\x02\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtRs.");
        let entries = read_pickle(&p).unwrap().text_entries();
        assert_eq!(entries.len(), 1);
        let Value::Tensor(t) = &entries[0].1 else { panic!("not a tensor") };
        assert_eq!(&*entries[0].0, "w");
        let expected = TensorRef {
            storage_type: StorageType::F32,
            storage_key: "0".into(),
            offset: 0,
            shape: vec![2],
            strides: vec![1],
        };
        assert_eq!(**t, expected);
    }

    #[test]
    fn shared_containers_stay_shared() {
        // d = {}; l = [d, d] (through the memo); d['k'] = 1: both elements see the key.
        let p = b"\x80\x02}q\x00(h\x00h\x00lq\x01h\x00X\x01\x00\x00\x00kK\x01s0.";
        let Value::List(list) = read_pickle(p).unwrap() else { panic!("not a list") };
        let list = list.borrow();
        assert_eq!(list.len(), 2);
        assert!(list.iter().all(|d| d.text_entries().len() == 1));
    }

    #[test]
    fn malformed_programs_are_errors() {
        for p in [&b""[..], b"\x80\x02a.", b"\x80\x02h\x05.", b"\x80\x02(K\x01s.", b"\x80\x02K\x01Q."] {
            assert!(read_pickle(p).is_err(), "{p:?}");
        }
    }
}

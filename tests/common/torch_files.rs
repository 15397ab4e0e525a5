//! Tiny checkpoints in the `torch.save` zip layout, written without Python (for tests and fuzz
//! seeds): the pickle bytes are what PyTorch writes with protocol 2.

use std::io::Write;

/// The pickle `torch.save({'w': tensor([0.5, -1.0])})` writes (protocol 2): an OrderedDict of
/// one tensor rebuilt from storage `0`.
pub fn tiny_pickle() -> Vec<u8> {
    let mut p = Vec::new();
    let text = |p: &mut Vec<u8>, s: &str| {
        p.push(b'X');
        p.extend_from_slice(&(s.len() as u32).to_le_bytes());
        p.extend_from_slice(s.as_bytes());
    };
    p.extend_from_slice(b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01");
    text(&mut p, "w");
    p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\nq\x02((");
    text(&mut p, "storage");
    p.extend_from_slice(b"ctorch\nFloatStorage\nq\x03");
    text(&mut p, "0");
    text(&mut p, "cpu");
    // numel 2; persistent id; offset 0, size (2,), stride (1,), requires_grad False, hooks {}
    p.extend_from_slice(b"K\x02tQK\x00K\x02\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtRs.");
    p
}

/// A torch.save zip holding `pickle` as `archive/data.pkl` and the given storages.
pub fn torch_zip(pickle: &[u8], storages: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("archive/data.pkl", stored).unwrap();
    zip.write_all(pickle).unwrap();
    for (key, bytes) in storages {
        zip.start_file(format!("archive/data/{key}"), stored).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.start_file("archive/version", stored).unwrap();
    zip.write_all(b"3\n").unwrap();
    zip.finish().unwrap();
    out.into_inner()
}

/// The tiny checkpoint: `tiny_pickle` with its 8-byte storage.
pub fn tiny_checkpoint() -> Vec<u8> {
    let storage = [0.5f32, -1.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    torch_zip(&tiny_pickle(), &[("0", storage)])
}

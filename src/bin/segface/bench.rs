//! `segface bench`: load time, parse latency (median and p90), memory, and optionally the
//! camera-frame and detection paths and a per-operator profile.

use std::path::Path;
use std::time::Instant;

use segface::convert::{arch, export_mobilenet, ExportOptions, Weights};
use segface::{FaceDetector, Frame, ImageView, LoadOptions, Model, Orientation, Outputs, Precision, Session};
use segface::{VideoOptions, VideoSession};

use crate::memory::{current_rss_mb, peak_rss_mb};
use crate::parse::load_rgb;
use crate::{alloc_stats, file_error, peak, CliResult, BUILT_IN_DETECTOR};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx]
}

/// A deterministic 640x480 test frame (smooth colour gradients).
fn synthetic_frame() -> image::RgbImage {
    image::RgbImage::from_fn(640, 480, |x, y| image::Rgb([(x / 3) as u8, (y / 2) as u8, ((x + y) / 5) as u8]))
}

/// The model to run: a file, or the MobileNetV3 architecture with seeded weights exported in
/// memory (speed and memory do not depend on weight values). Also says which it is.
pub(crate) fn model_bytes(model_path: Option<&Path>, resolution: usize) -> CliResult<(Vec<u8>, String)> {
    Ok(match model_path {
        Some(path) => (std::fs::read(path).map_err(file_error(path))?, path.display().to_string()),
        None => {
            let started = Instant::now();
            let weights = Weights::seeded(&arch::mobilenet_keys(arch::CELEBA_NUM_CLASSES), 1);
            let onnx = export_mobilenet(&weights, &ExportOptions::new(resolution))?;
            let source = format!(
                "MobileNetV3 SegFace, seeded weights (exported in memory in {:.0} ms)",
                started.elapsed().as_secs_f64() * 1e3
            );
            (onnx, source)
        }
    })
}

pub(crate) fn bench(
    model_path: Option<&Path>,
    resolution: usize,
    iters: usize,
    image_path: Option<&Path>,
    extras: BenchExtras,
) -> CliResult {
    let iters = iters.max(1);
    let (onnx, source) = model_bytes(model_path, resolution)?;
    let started = Instant::now();
    let options = LoadOptions { precision: extras.precision, ..LoadOptions::default() };
    let model = Model::load_with(&onnx, &options)?;
    drop(onnx);
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    let rss_loaded = current_rss_mb();
    let peak_loaded = peak_rss_mb();
    let frame = match image_path {
        Some(p) => load_rgb(p)?,
        None => synthetic_frame(),
    };
    let (w, h) = frame.dimensions();
    let view = ImageView::rgb(frame.as_raw(), w, h)?;
    let mut session = model.session()?;
    session.set_threads(extras.threads)?;
    let mut labels = vec![0u8; (w * h) as usize];
    let first = Instant::now();
    session.parse_into(&view, &mut labels, w as usize)?;
    let first_ms = first.elapsed().as_secs_f64() * 1e3;
    let rss_first = current_rss_mb();
    let mut times = Vec::with_capacity(iters);
    let (allocs_before, bytes_before) = alloc_stats::snapshot();
    let live_before = alloc_stats::live_bytes();
    alloc_stats::take_peak_live();
    for _ in 0..iters {
        let t = Instant::now();
        session.parse_into(&view, &mut labels, w as usize)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (allocs_after, bytes_after) = alloc_stats::snapshot();
    let parse_peak_live = alloc_stats::take_peak_live();
    times.sort_by(|a, b| a.total_cmp(b));
    let median = percentile(&times, 0.5);
    if extras.json {
        let profile = match extras.profile {
            true => Some(session.profile(&view, iters)?),
            false => None,
        };
        let report = json_report(&source, &model, &extras, (w, h), iters, load_ms, first_ms, &times, profile);
        println!("{report}");
        return Ok(());
    }
    println!("model:              {source}");
    println!(
        "resolution:         {0}x{0}, frame {w}x{h}, {1} thread(s), {2}",
        model.info().resolution,
        extras.threads,
        model.info().precision.name()
    );
    println!("load:               {load_ms:.0} ms (load to first result {:.0} ms)", load_ms + first_ms);
    println!("latency median:     {median:.1} ms over {iters} runs");
    println!("latency p90:        {:.1} ms", percentile(&times, 0.9));
    println!("fps (median):       {:.2}", 1000.0 / median);
    println!(
        "allocated per parse: {:.1} MB in {} allocations (after warm-up)",
        (bytes_after - bytes_before) as f64 / iters as f64 / 1e6,
        (allocs_after - allocs_before) / iters as u64
    );
    println!(
        "live heap in a parse: {:.0} MB at most ({:.0} MB before it: the model and the session)",
        parse_peak_live as f64 / 1e6,
        live_before as f64 / 1e6
    );
    let planned = segface::internals::planned_memory(session.model())?;
    println!(
        "planned intermediates: {:.0} MB at once (tract's own order: {:.0} MB)",
        planned.peak_bytes as f64 / 1e6,
        planned.tract_order_peak_bytes as f64 / 1e6
    );
    bench_frame_path(&mut session, &view, iters, median)?;
    if extras.detect {
        bench_detection(&model, &view, iters, median)?;
    }
    if extras.profile {
        print_profile(&session.profile(&view, iters)?, extras.threads);
    }
    match (peak_rss_mb(), peak_loaded, rss_loaded, rss_first) {
        (Some(peak), Some(peak_loaded), Some(loaded), Some(first)) => println!(
            "peak memory (RSS):  {peak:.0} MB (by the end of load {peak_loaded:.0} MB; after load {loaded:.0} MB, \
             after the first parse {first:.0} MB)"
        ),
        _ => println!("peak memory (RSS):  unknown on this platform"),
    }
    Ok(())
}

/// What `bench` measures besides the parse, and how it reports.
pub(crate) struct BenchExtras {
    pub(crate) detect: bool,
    pub(crate) profile: bool,
    pub(crate) threads: usize,
    pub(crate) precision: Precision,
    /// One JSON object instead of text (for scripts and device farms; see docs/performance.md).
    pub(crate) json: bool,
}

/// `bench --json`: one object with the parse's figures and, with `--profile`, the time per
/// operator class. `first_result_ms` counts from the start of the load, as the text report's
/// "load to first result" does; `peak_rss_mb` is null where the platform does not tell.
#[allow(clippy::too_many_arguments)]
fn json_report(
    source: &str,
    model: &Model,
    extras: &BenchExtras,
    (w, h): (u32, u32),
    iters: usize,
    load_ms: f64,
    first_ms: f64,
    sorted_times: &[f64],
    profile: Option<segface::internals::Profile>,
) -> serde_json::Value {
    let median = percentile(sorted_times, 0.5);
    let mut report = serde_json::json!({
        "model": source,
        "resolution": model.info().resolution,
        "frame": format!("{w}x{h}"),
        "threads": extras.threads,
        "precision": model.info().precision.name(),
        "iters": iters,
        "load_ms": load_ms,
        "first_result_ms": load_ms + first_ms,
        "median_ms": median,
        "p90_ms": percentile(sorted_times, 0.9),
        "fps": 1000.0 / median,
        "peak_rss_mb": peak_rss_mb(),
    });
    if let Some(profile) = profile {
        let classes: Vec<serde_json::Value> = profile
            .classes
            .iter()
            .map(|c| {
                serde_json::json!({
                    "class": c.op,
                    "nodes": c.nodes,
                    "ms": c.ms,
                    "gmac": c.macs as f64 / 1e9,
                    "arithmetic": c.arithmetic,
                })
            })
            .collect();
        report["profile"] = classes.into();
    }
    report
}

fn print_profile(profile: &segface::internals::Profile, threads: usize) {
    // Against the peak of all the threads the session runs on.
    let peak = peak::f32_peak_gflops().map(|p| p * threads as f64);
    let of_peak = |gflops: f64| match peak {
        Some(p) if gflops > 0.0 => format!("{:>5.1} %", 100.0 * gflops / p),
        _ => format!("{:>7}", "-"),
    };
    match peak {
        Some(p) => println!("f32 peak (measured on one thread, times {threads} thread(s)): {p:.1} GFLOP/s"),
        None => println!("f32 peak: not measured on this CPU"),
    }
    println!(
        "profile (mean per run by operator class on {threads} thread(s); GMAC from tract's cost model):"
    );
    println!(
        "  {:<34} {:>4} {:>5} {:>9} {:>6} {:>7} {:>8} {:>7}",
        "class", "", "nodes", "ms", "time", "GMAC", "GFLOP/s", "peak"
    );
    for c in &profile.classes {
        println!(
            "  {:<34} {:>4} {:>5} {:>9.1} {:>5.1}% {:>7.3} {:>8.1} {}",
            c.op,
            c.arithmetic,
            c.nodes,
            c.ms,
            100.0 * c.ms / profile.total_ms,
            c.macs as f64 / 1e9,
            c.gflops(),
            of_peak(c.gflops())
        );
    }
    let macs: u64 = profile.classes.iter().map(|c| c.macs).sum();
    let total = segface::internals::OpClassTime {
        op: "total".into(),
        arithmetic: "",
        nodes: 0,
        ms: profile.total_ms,
        macs,
    };
    println!(
        "  {:<34} {:>4} {:>5} {:>9.1} {:>6} {:>7.3} {:>8.1} {}",
        "total",
        "",
        "",
        total.ms,
        "",
        macs as f64 / 1e9,
        total.gflops(),
        of_peak(total.gflops())
    );
    println!("slowest nodes:");
    for n in profile
        .nodes
        .iter()
        .take(std::env::var("SEGFACE_PROFILE_NODES").ok().and_then(|v| v.parse().ok()).unwrap_or(24))
    {
        println!(
            "  {:<36} {:<14} {:>7.1} ms {:>6.3} GMAC  {}",
            n.name,
            n.op,
            n.ms,
            n.macs as f64 / 1e9,
            n.inputs
        );
    }
}

/// Median milliseconds of `run` over `iters` calls, after one warm-up call.
fn median_ms(iters: usize, mut run: impl FnMut() -> CliResult) -> CliResult<f64> {
    run()?;
    let mut times = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        run()?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(percentile(&times, 0.5))
}

/// The camera apps' path on the same pixels: `parse_frame` with the whole frame as the face, its
/// labels mapped back through the general box mapping (`scores_in_box`) rather than the image
/// path's whole-image resampling.
fn bench_frame_path(session: &mut Session, view: &ImageView, iters: usize, parse_ms: f64) -> CliResult {
    let frame = Frame::Packed(*view);
    let w = view.width() as usize;
    let mut labels = vec![0u8; w * view.height() as usize];
    let ms = median_ms(iters, || {
        session.parse_frame(&frame, Orientation::default(), &[], &mut Outputs::label_map(&mut labels, w))
    })?;
    println!(
        "frame path median:  {ms:.1} ms ({:.2}x the image path; parse_frame, whole frame)",
        ms / parse_ms
    );
    Ok(())
}

/// The detector at two input sizes and a video session, each against the parse median.
fn bench_detection(model: &Model, view: &ImageView, iters: usize, parse_ms: f64) -> CliResult {
    let frame = Frame::Packed(*view);
    let mut detector640 = None;
    for size in [640, 320] {
        let detector = FaceDetector::load(BUILT_IN_DETECTOR, size)?;
        let mut faces = 0;
        let ms = median_ms(iters, || {
            faces = detector.detect(&frame, Default::default(), 0.7)?.len();
            Ok(())
        })?;
        println!(
            "detect {size}x{size}:     {ms:.1} ms median ({:.2}x a parse), {faces} face(s)",
            ms / parse_ms
        );
        detector640.get_or_insert(detector);
    }
    let options = VideoOptions { detect_every: 5, ..Default::default() };
    let mut video = VideoSession::new(model, detector640, options)?;
    let w = view.width() as usize;
    let mut labels = vec![0u8; w * view.height() as usize];
    // Whole frames of 5 (one detection each), so the median is over the same mix every time.
    let ms = median_ms(iters, || {
        for _ in 0..5 {
            let mut outputs = Outputs::label_map(&mut labels, w);
            video.parse(&frame, Default::default(), None, &mut outputs)?;
        }
        Ok(())
    })? / 5.0;
    let faces = video.faces().count();
    println!(
        "video frame:        {ms:.1} ms median (detect 1 in 5, smoothing 0.5; {faces} face(s) parsed per frame)",
    );
    Ok(())
}

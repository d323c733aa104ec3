//! What chunks compressed against the plaintext before them would save
//! (issue 19, store size): the files named on the command line are cut as
//! the packager cuts large files (FastCDC v2020, 64 KiB / 512 KiB / 1 MiB),
//! and each chunk is compressed at LEVEL either alone (what the store does
//! now) or against the previous W MiB of its file as a zstd prefix (a
//! format change: a chunk would decode only after the chunks before it);
//! `whole` compresses each file as one frame, the bound. Every prefixed
//! chunk is decoded again with its prefix and compared, so a figure is
//! never for bytes that would not decode. Single-threaded; times compare
//! the ways with each other, not with the packager (which uses every core).
//!
//! Usage: prefix-estimate LEVEL WAYS FILE...   WAYS e.g. `0,1,2,whole`
//! (0: alone; N: a prefix of N MiB).

use std::io::{Read as _, Write as _};
use std::process::ExitCode;
use std::time::Instant;

const MIB: usize = 1 << 20;

enum Way {
    Alone,
    Prefix(usize),
    Whole,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("prefix-estimate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let [level, ways, files @ ..] = args else {
        return Err("usage: prefix-estimate LEVEL WAYS FILE...".into());
    };
    let level: i32 = level
        .parse()
        .ok()
        .filter(|l| (1..=19).contains(l))
        .ok_or(format!("level `{level}` is not 1..=19"))?;
    let ways = ways
        .split(',')
        .map(|w| match w {
            "whole" => Ok(Way::Whole),
            "0" => Ok(Way::Alone),
            n => n
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=64).contains(n))
                .map(|n| Way::Prefix(n * MIB))
                .ok_or(format!("way `{n}` is not 0, 1..=64 MiB or whole")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let datas = files
        .iter()
        .map(|f| std::fs::read(f).map_err(|e| format!("{f}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let total: usize = datas.iter().map(Vec::len).sum();
    for way in ways {
        let started = Instant::now();
        let mut bytes = 0;
        for data in &datas {
            bytes += compressed(data, level, &way).map_err(|e| e.to_string())?;
        }
        let label = match way {
            Way::Alone => "alone".to_string(),
            Way::Prefix(w) => format!("prefix {} MiB", w / MIB),
            Way::Whole => "whole".to_string(),
        };
        println!(
            "level {level} {label}: {bytes} of {total} bytes in {} files ({:.3}), {:.1} s",
            datas.len(),
            bytes as f64 / total as f64,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn compressed(data: &[u8], level: i32, way: &Way) -> std::io::Result<usize> {
    let w = match way {
        Way::Whole => return Ok(zstd::bulk::compress(data, level)?.len()),
        Way::Alone => 0,
        Way::Prefix(w) => *w,
    };
    let mut bytes = 0;
    for c in fastcdc::v2020::FastCDC::new(data, 64 * 1024, 512 * 1024, 1024 * 1024) {
        let chunk = &data[c.offset..c.offset + c.length];
        let prefix = &data[c.offset.saturating_sub(w)..c.offset];
        if prefix.is_empty() {
            bytes += zstd::bulk::compress(chunk, level)?.len();
            continue;
        }
        // A window that reaches back over the whole prefix.
        let window_log = (usize::BITS - (prefix.len() + chunk.len()).leading_zeros()).clamp(10, 27);
        let mut out = Vec::new();
        let mut encoder = zstd::stream::write::Encoder::with_ref_prefix(&mut out, level, prefix)?;
        encoder.window_log(window_log)?;
        encoder.set_pledged_src_size(Some(chunk.len() as u64))?;
        encoder.write_all(chunk)?;
        encoder.finish()?;
        let mut decoder = zstd::stream::read::Decoder::with_ref_prefix(&out[..], prefix)?;
        decoder.window_log_max(window_log)?;
        let mut back = Vec::with_capacity(chunk.len());
        decoder.read_to_end(&mut back)?;
        if back != chunk {
            return Err(std::io::Error::other(
                "a prefixed chunk did not decode to itself",
            ));
        }
        bytes += out.len();
    }
    Ok(bytes)
}

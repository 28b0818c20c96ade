// out_dir.h - `npuconv convert -o OUTDIR` as a container runs it at every start: idempotent,
// safe with several processes at once, never leaving OUTDIR half-updated (docs/cli.md,
// "OUTDIR: cache, lock and publication").
//
//  - Lock: OUTDIR/.npuconv.lock, flock(LOCK_EX) for the whole check-convert-publish sequence. The
//    kernel drops a flock when its process dies (kill -9 included), so a dead run's lock is
//    free at once; nothing is to be "recovered" but its staging folder, removed by the next run.
//  - Staging: runConvert writes every output into OUTDIR/.npuconv-stage-PID/. Whatever the
//    pipeline writes there (model.onnx, its external data, report.json, mixed_config.json, later
//    model.npub) is the output set: no list to keep in step with the pipeline.
//  - Publication: the stamp OUTDIR/npuconv.key.json is removed (fsync), a journal
//    (.npuconv-publishing.json) names the files about to be replaced or added, every staged file
//    is renamed into OUTDIR, OUTDIR is fsynced, then the stamp is written (atomically) last and
//    the journal removed. A stamp therefore only ever describes a complete set of one run;
//    without one, the set is rebuilt. A run killed during the renames leaves the journal: the
//    next run removes the files it names before anything else, so OUTDIR never keeps a mixed set.
//  - Key: xxHash64 over npuconv's version, the effective options that change the output (not
//    --threads), and the content key of every input file (model, external data, calibration
//    files, text, tokenizer, mixed config, target profile). The stamp also keeps each input's
//    size, mtime (ns) and inode: a re-run stats the inputs and trusts an unchanged triple (the
//    fast path: no input byte read, milliseconds for any model size); a changed triple rehashes
//    that file, and only a changed hash rebuilds (a `touch` or a copy with the same bytes does
//    not). --force rebuilds regardless.
#pragma once

#include <filesystem>
#include <string>

#include "converter/support/status.h"
#include "pipeline/convert.h"

namespace npuconv {

struct OutDirOptions {
  bool force = false;            // rebuild even when the stamp matches
  double waitTimeoutSeconds = 600;  // how long to wait for another process's lock
};

struct OutDirResult {
  bool upToDate = false;  // nothing was converted: the stamp matched
  bool waited = false;    // another process held the lock first
  std::string key;
  /// As ConvertResult::accuracyFailure, also replayed from the stamp when up to date (a cached
  /// run exits as the run that built it did).
  std::string accuracyFailure;
  std::string fallbackUsed;  // as ConvertResult::fallbackUsed, likewise replayed
  std::filesystem::path stampPath;
};

/// The stamp's file name in OUTDIR.
inline constexpr const char* kOutDirStamp = "npuconv.key.json";

/// Converts `o.model` into `o.outDir` under the lock, or does nothing when the stamp matches.
Expected<OutDirResult> convertIntoOutDir(const ConvertOptions& o, const OutDirOptions& d);

/// `convert --dry-run`: what convertIntoOutDir would do, without locking or writing anything:
/// whether OUTDIR is up to date (and if not, why), the passes, precision, inputs and outputs.
/// Option errors are those a real run reports.
Expected<nlohmann::ordered_json> planConvertIntoOutDir(const ConvertOptions& o, const OutDirOptions& d);

}  // namespace npuconv

// A SQLite VFS that writes each commit's WAL frames with one write call.
//
// SQLite appends a WAL frame as two writes (its 24-byte header, then the page), so a batch of 40 pod
// writes, about 50 frames, took 100 pwrite calls, and on this VM a syscall costs about 10 us. This VFS
// wraps the default one: writes to a WAL file that continue where the last one ended are gathered in
// memory and written in one call when SQLite syncs, reads, truncates or closes the WAL, asks its size or
// sends it a file control; every other file and call goes straight through.
//
// Only for connections with synchronous=FULL. There SQLite syncs the WAL at every commit before the
// commit becomes visible in the WAL index, so no reader can look for a frame that is still in memory.
// With NORMAL a commit is published without a sync and a reader would read the frames before they were
// written.
#pragma once

#include <cstddef>

namespace skiff::store::sqlite {

// Registers the VFS with SQLite (once, not as the default) and returns its name, for sqlite3_open_v2.
// Null when SQLite has no default VFS to wrap.
const char* wal_gather_vfs();

// Bytes gathered at most; a longer run of appends is written in pieces of about this size. SQLite's unix
// VFS takes at most 128 KiB - 1 bytes per write (it masks the size to 17 bits: 128 KiB became 0 bytes and
// the commit failed with "database or disk is full").
inline constexpr size_t kWalGatherLimit = 127 * 1024;

}  // namespace skiff::store::sqlite

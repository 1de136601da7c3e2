// Package logtail follows an MTA's log file the way `tail -F` does, and
// remembers how far it got.
//
// Rotation is detected by polling: when the path names a new inode
// (rename-and-create), the old file is read to its end before the new one
// is opened at its start; when the same inode shrinks below our offset
// (copytruncate), reading restarts at its start. Lines written to a
// copytruncated file between our last read and the copy are in the copy
// only, and are not read: copytruncate has that window by design.
//
// The position (inode and offset after the last line handled) is saved to a
// state file only through Commit, which the caller invokes once the
// reports from lines up to that position are settled, so a restart resumes
// there and neither loses nor repeats a report. At start, a saved inode
// that is no longer the log file is looked for in the rotated file
// (path.1, as logrotate names it), and read from the saved offset first.
package logtail

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults for Config.
const (
	DefaultPoll = 200 * time.Millisecond
	// DefaultMaxLine bounds one line; longer lines are skipped and counted.
	DefaultMaxLine = 64 << 10
)

// Position is where reading stands: the file's inode and the offset just
// after the last line handed out.
type Position struct {
	Inode  uint64 `json:"inode"`
	Offset int64  `json:"offset"`
}

// Config says what to follow.
type Config struct {
	Path string
	// StatePath is where Commit saves the position; empty keeps none.
	StatePath string
	// Rotated is where the previous file is after a rename rotation;
	// default Path+".1".
	Rotated string
	Poll    time.Duration
	MaxLine int
	// FromStart reads an existing log from its start when there is no state
	// file; by default a first start begins at the end, so an agent
	// installed on a busy node does not report last month's attempts.
	FromStart bool
}

// Handler gets each complete line (without its newline; the slice is
// reused after it returns) and the position after it.
type Handler func(line []byte, pos Position)

// Follower reads one log file.
type Follower struct {
	cfg      Config
	long     atomic.Uint64
	file     *os.File
	r        *bufio.Reader
	inode    uint64
	offset   int64
	partial  []byte
	draining bool // file is the rotated-away one, read to its end then switch
}

// Open returns a follower positioned from the state file (see Config);
// Run releases what it opened.
func Open(cfg Config) (*Follower, error) {
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.MaxLine <= 0 {
		cfg.MaxLine = DefaultMaxLine
	}
	if cfg.Rotated == "" {
		cfg.Rotated = cfg.Path + ".1"
	}
	f := &Follower{cfg: cfg}
	if err := f.start(); err != nil {
		return nil, err
	}
	return f, nil
}

// SkippedLongLines is how many lines over MaxLine were skipped.
func (f *Follower) SkippedLongLines() uint64 { return f.long.Load() }

// Run hands out lines until ctx ends.
func (f *Follower) Run(ctx context.Context, h Handler) error {
	defer f.close()
	t := time.NewTicker(f.cfg.Poll)
	defer t.Stop()
	for {
		if f.file != nil {
			if err := f.readAll(h); err != nil {
				return err
			}
			if err := f.checkRotation(); err != nil {
				return err
			}
			if f.draining {
				continue // read the new file now, not after a tick
			}
		} else if err := f.openCurrent(0); err != nil {
			return err
		} else if f.file != nil {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// start positions the follower from the state file.
func (f *Follower) start() error {
	st, ok, err := LoadState(f.cfg.StatePath)
	if err != nil {
		return err
	}
	cur, curErr := os.Stat(f.cfg.Path)
	switch {
	case !ok && curErr == nil && !f.cfg.FromStart:
		return f.openCurrent(cur.Size())
	case !ok:
		return f.openCurrent(0)
	case curErr == nil && inodeOf(cur) == st.Inode:
		return f.openCurrent(min(st.Offset, cur.Size()))
	}
	if old, err := os.Stat(f.cfg.Rotated); err == nil && inodeOf(old) == st.Inode && st.Offset <= old.Size() {
		if err := f.open(f.cfg.Rotated, st.Offset); err != nil {
			return err
		}
		f.draining = true
		return nil
	}
	// The saved file is gone: the current one is all new to us.
	return f.openCurrent(0)
}

// openCurrent opens Path at offset; a missing file is not an error (the
// MTA has not logged yet) and leaves f.file nil.
func (f *Follower) openCurrent(offset int64) error {
	err := f.open(f.cfg.Path, offset)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func (f *Follower) open(path string, offset int64) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	fi, err := file.Stat()
	if err != nil {
		file.Close()
		return err
	}
	if _, err := file.Seek(offset, io.SeekStart); err != nil {
		file.Close()
		return fmt.Errorf("seek %s: %w", path, err)
	}
	f.close()
	f.file, f.inode, f.offset, f.partial, f.draining = file, inodeOf(fi), offset, f.partial[:0], false
	if f.r == nil {
		f.r = bufio.NewReaderSize(file, 64<<10)
	} else {
		f.r.Reset(file)
	}
	return nil
}

func (f *Follower) close() {
	if f.file != nil {
		f.file.Close()
		f.file = nil
	}
}

// readAll hands out every complete line up to the current end of file.
func (f *Follower) readAll(h Handler) error {
	for {
		chunk, err := f.r.ReadSlice('\n')
		f.offset += int64(len(chunk))
		switch {
		case err == nil:
			line := chunk[:len(chunk)-1]
			if len(f.partial) > 0 {
				f.partial = append(f.partial, line...)
				line = f.partial
			}
			if len(line) > f.cfg.MaxLine {
				f.long.Add(1)
			} else {
				h(line, Position{Inode: f.inode, Offset: f.offset})
			}
			f.partial = f.partial[:0]
		case errors.Is(err, bufio.ErrBufferFull) || errors.Is(err, io.EOF):
			// Keep the unfinished line until its newline arrives; past
			// MaxLine only its length matters.
			if len(f.partial) <= f.cfg.MaxLine {
				f.partial = append(f.partial, chunk...)
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
		default:
			return fmt.Errorf("read %s: %w", f.cfg.Path, err)
		}
	}
}

// checkRotation looks at the path after reaching the end of the open file.
func (f *Follower) checkRotation() error {
	fi, err := os.Stat(f.cfg.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // renamed away, the new file is not there yet
	}
	if err != nil {
		return err
	}
	if inodeOf(fi) != f.inode {
		// Renamed away: what we have read is all of it (a writer still
		// holding the old file is caught by the next read before this
		// check), so the new file starts at 0.
		if err := f.readAll(func([]byte, Position) {}); err != nil {
			return err
		}
		if err := f.open(f.cfg.Path, 0); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		f.draining = true
		return nil
	}
	f.draining = false
	if fi.Size() < f.offset {
		// Truncated in place: start over.
		return f.open(f.cfg.Path, 0)
	}
	return nil
}

func inodeOf(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// LoadState reads a state file; ok is false when there is none.
func LoadState(path string) (Position, bool, error) {
	if path == "" {
		return Position{}, false, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Position{}, false, nil
	}
	if err != nil {
		return Position{}, false, err
	}
	var p Position
	if err := json.Unmarshal(b, &p); err != nil {
		return Position{}, false, fmt.Errorf("state file %s: %w", path, err)
	}
	return p, true, nil
}

// SaveState writes p to path atomically (a crash leaves the old or the new
// position, never a torn one) and durably.
func SaveState(path string, p Position) error {
	b, _ := json.Marshal(p)
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

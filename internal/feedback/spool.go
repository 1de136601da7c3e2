package feedback

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// The spool keeps buffered reports across a restart: with Options.SpoolDir
// set, what the ring would drop when full, and what it still holds at
// shutdown (Spill), is written there as files of JSON lines, and LoadSpool
// puts them back in the ring, oldest first, at the next start, with new
// Seqs of the Service that loads them (the old Seqs could sit below a
// watermark that newer reports of the same run set, and would be skipped).
// Each observation keeps its BatchID and Once, so an Idempotency-Key keeps
// its claim. What a spooled report cannot keep is the watermark's proof
// that it was applied: a report that went out in a store call that timed
// out, yet ran in Redis, and then reached the spool (at shutdown, or when
// a full buffer dropped it) is applied again at the next start. The ring
// never drops, and Spill never takes, reports while a call carries them.
//
// A file is written whole to a temporary name and renamed, so a crash
// mid-write leaves no half file to load; LoadSpool deletes each file once
// its reports are in the ring. A crash between the two loses what was
// loaded and not yet replayed; a crash while writing loses that file.

// spoolPattern names spool files: the writing time and a sequence number,
// zero-padded so that the names sort in writing order.
const spoolPattern = "reports-%020d-%06d.jsonl"

type spool struct {
	dir string
	mu  sync.Mutex
	seq int
}

// write stores obs in a new file.
func (sp *spool) write(obs []Observation) error {
	if len(obs) == 0 {
		return nil
	}
	sp.mu.Lock()
	sp.seq++
	name := filepath.Join(sp.dir, fmt.Sprintf(spoolPattern, time.Now().UnixNano(), sp.seq))
	sp.mu.Unlock()
	tmp, err := os.CreateTemp(sp.dir, ".reports-*.tmp")
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	w := bufio.NewWriter(tmp)
	enc := json.NewEncoder(w)
	for i := range obs {
		if err = enc.Encode(&obs[i]); err != nil {
			break
		}
	}
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	err = errors.Join(err, tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("spool %d reports: %w", len(obs), err)
	}
	return nil
}

// files lists the spool files in writing order.
func (sp *spool) files() ([]string, error) {
	names, err := filepath.Glob(filepath.Join(sp.dir, "reports-*.jsonl"))
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	return names, nil
}

func readSpoolFile(name string) ([]Observation, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Observation
	dec := json.NewDecoder(bufio.NewReader(f))
	for dec.More() {
		var o Observation
		if err := dec.Decode(&o); err != nil {
			return out, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, o)
	}
	return out, nil
}

// LoadSpool puts the reports spooled by an earlier run back in the
// buffer, oldest first, for Run to replay, and deletes their files: as many
// files as fit below the admit limit (at least one), so that new batches
// are still taken, the rest when the buffer has drained (Run). It returns how many reports it loaded. Without
// Options.SpoolDir it does nothing.
func (s *Service) LoadSpool(ctx context.Context) (int, error) {
	if s.spool == nil {
		return 0, nil
	}
	names, err := s.spool.files()
	if err != nil {
		return 0, fmt.Errorf("load spool: %w", err)
	}
	loaded, files := 0, 0
	var errs []error
	for _, name := range names {
		obs, err := readSpoolFile(name)
		if err != nil {
			errs = append(errs, err) // the readable part is kept
		}
		if files > 0 && s.buf.Len()+len(obs) > s.admitLimit() {
			break
		}
		s.enqueue(ctx, obs, false)
		loaded += len(obs)
		files++
		if err := os.Remove(name); err != nil {
			errs = append(errs, err)
		}
	}
	if loaded > 0 || len(errs) > 0 {
		s.log.LogAttrs(ctx, slog.LevelInfo, "reports loaded from the spool for replay",
			slog.Int("reports", loaded), slog.Int("files", files), slog.Int("files_left", len(names)-files),
			slog.String("dir", s.spool.dir), slog.Any("errors", errors.Join(errs...)))
	}
	return loaded, errors.Join(errs...)
}

// Spill writes the reports still buffered to the spool (at shutdown, after
// Flush) and returns how many it kept there and how many are lost (no
// spool, or it failed). It logs both. It first waits, for as long as one
// store call may take, for a call still out (a Submit's, when the HTTP
// server's grace ran out) and then keeps every other from starting, so
// that no report is both applied and spooled; the buffer is shut, and
// Submits after it are refused (what one pushes meanwhile goes to the
// spool too).
func (s *Service) Spill(ctx context.Context) (kept, lost int, err error) {
	t := time.NewTimer(s.callTimeout(replayBatch))
	select {
	case s.applier <- struct{}{}: // never given back: the Service is done
	case <-t.C:
	}
	t.Stop()
	obs := s.buf.takeAll()
	if len(obs) == 0 {
		return 0, 0, nil
	}
	if s.spool == nil {
		err = errors.New("no spool directory configured")
	} else {
		err = s.spool.write(obs)
	}
	if err != nil {
		lost = len(obs)
		s.tel.dropped.Add(ctx, int64(lost))
		s.log.LogAttrs(ctx, slog.LevelError, "buffered reports lost at shutdown",
			slog.Int("lost", lost), slog.Any("error", err))
		return 0, lost, err
	}
	s.log.LogAttrs(ctx, slog.LevelWarn, "buffered reports kept in the spool for the next start",
		slog.Int("kept", len(obs)), slog.String("dir", s.spool.dir))
	return len(obs), 0, nil
}

// overflow handles what the full ring dropped: spooled when a spool is
// configured, else counted as lost.
func (s *Service) overflow(ctx context.Context, dropped []Observation) {
	if len(dropped) == 0 {
		return
	}
	if s.spool != nil {
		if err := s.spool.write(dropped); err == nil {
			s.spilled.Add(uint64(len(dropped)))
			return
		} else if s.spillErrLogged.CompareAndSwap(false, true) {
			s.log.LogAttrs(ctx, slog.LevelError, "cannot spool reports dropped from the full buffer",
				slog.Any("error", err))
		}
	}
	s.lost.Add(uint64(len(dropped)))
	s.tel.dropped.Add(ctx, int64(len(dropped)))
}

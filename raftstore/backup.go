package raftstore

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hashicorp/raft"

	"github.com/rosterhq/roster/registry"
)

// Backup format (version 1), all integers big-endian:
//
//	magic   [8]byte  "ROSTERBK"
//	version uint16   1
//	index   uint64   the log index the catalog snapshot reflects
//	term    uint64   the Raft term when it was taken
//	payload          the catalog snapshot (registry's own versioned format)
//	length  uint64   payload length
//	sum     [32]byte sha256 of everything before it
const (
	backupMagic   = "ROSTERBK"
	backupVersion = 1
	backupHeader  = 8 + 2 + 8 + 8
	backupTrailer = 8 + sha256.Size
)

// ErrBadBackup: the backup is truncated, corrupt or of an unknown format;
// nothing was changed. The error also carries a *registry.ValidationError
// (field "snapshot") so that front ends answer 400.
var ErrBadBackup = errors.New("invalid backup")

func badBackup(format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrBadBackup,
		&registry.ValidationError{Field: "snapshot", Reason: fmt.Sprintf(format, args...)})
}

// Backup writes a consistent point-in-time backup of the catalog: on any
// server, after the catalog has applied the commit index as of the call.
func (s *Store) Backup(ctx context.Context, w io.Writer) error {
	if err := s.WaitApplied(ctx, s.raft.CommitIndex()); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	// The index read before the snapshot is at most the snapshot's own: a
	// restore raises indexes above it either way.
	index := s.catalog.Index()
	snap := s.catalog.Snapshot()
	term := s.raft.CurrentTerm()

	h := sha256.New()
	bw := bufio.NewWriterSize(w, 256<<10)
	mw := io.MultiWriter(bw, h)
	var hdr [backupHeader]byte
	copy(hdr[:8], backupMagic)
	binary.BigEndian.PutUint16(hdr[8:], backupVersion)
	binary.BigEndian.PutUint64(hdr[10:], index)
	binary.BigEndian.PutUint64(hdr[18:], term)
	if _, err := mw.Write(hdr[:]); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	n, err := snap.WriteTo(mw)
	if err != nil {
		return fmt.Errorf("backup: write catalog: %w", err)
	}
	var length [8]byte
	binary.BigEndian.PutUint64(length[:], uint64(n))
	if _, err := mw.Write(length[:]); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if _, err := bw.Write(h.Sum(nil)); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	s.log.Info("backup written", "index", index, "term", term, "bytes", n+backupHeader+backupTrailer)
	return nil
}

// Restore replaces the catalog with a backup on every server (leader only).
// The whole backup is buffered to a temporary file and verified (checksum,
// format, and a trial restore into a scratch catalog) before anything is
// touched; then Raft installs it as a snapshot at an index above every
// existing one, so indexes rise and watchers never go backwards.
func (s *Store) Restore(ctx context.Context, r io.Reader) error {
	if err := mayOperate(ctx); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := s.leaderErr(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	// The header is checked before anything is spooled to disk.
	var hdr [backupHeader]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("restore: %w", badBackup("shorter than a backup header"))
		}
		return fmt.Errorf("restore: read backup: %w", err)
	}
	if !bytes.Equal(hdr[:8], []byte(backupMagic)) {
		return fmt.Errorf("restore: %w", badBackup("not a Roster backup"))
	}
	if v := binary.BigEndian.Uint16(hdr[8:]); v != backupVersion {
		return fmt.Errorf("restore: %w", badBackup("backup format version %d is unknown", v))
	}
	tmp, err := os.CreateTemp(s.tempDir(), "roster-restore-*")
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	if _, err := tmp.Write(hdr[:]); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	body, err := spoolVerified(tmp, r, binary.BigEndian.Uint64(hdr[10:]))
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	index, term, payload, err := verifyBackup(tmp, backupHeader+body)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	timeout := time.Minute
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	start := time.Now()
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: index, Term: term, Size: payload.n}
	if err := s.raft.Restore(meta, io.NewSectionReader(tmp, payload.off, payload.n), timeout); err != nil {
		return fmt.Errorf("restore: %w", s.mapRaftErr(err))
	}
	s.log.Info("backup restored on the cluster", "backup_index", index, "applied_index", s.applied.load(),
		"bytes", backupHeader+body, "duration", time.Since(start))
	return nil
}

func (s *Store) tempDir() string {
	if s.cfg.Dev {
		return ""
	}
	return s.cfg.DataDir
}

type section struct{ off, n int64 }

// verifyBackup checks the framing and the checksum of the size bytes in f.
func verifyBackup(f io.ReaderAt, size int64) (index, term uint64, payload section, err error) {
	if size < backupHeader+backupTrailer {
		return 0, 0, payload, badBackup("%d bytes is too short", size)
	}
	var hdr [backupHeader]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil {
		return 0, 0, payload, badBackup("%v", err)
	}
	if !bytes.Equal(hdr[:8], []byte(backupMagic)) {
		return 0, 0, payload, badBackup("not a Roster backup")
	}
	if v := binary.BigEndian.Uint16(hdr[8:]); v != backupVersion {
		return 0, 0, payload, badBackup("backup format version %d is unknown", v)
	}
	index = binary.BigEndian.Uint64(hdr[10:])
	term = binary.BigEndian.Uint64(hdr[18:])
	var trailer [backupTrailer]byte
	if _, err := f.ReadAt(trailer[:], size-backupTrailer); err != nil {
		return 0, 0, payload, badBackup("%v", err)
	}
	payload = section{off: backupHeader, n: size - backupHeader - backupTrailer}
	if n := binary.BigEndian.Uint64(trailer[:8]); n != uint64(payload.n) {
		// A truncated (or padded) file's last bytes are not a trailer at all:
		// name the file's size, not the arbitrary number found there.
		return 0, 0, payload, badBackup("truncated or damaged: its %d bytes do not end with the length and checksum a complete backup ends with", size)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, size-sha256.Size)); err != nil {
		return 0, 0, payload, badBackup("%v", err)
	}
	if !bytes.Equal(h.Sum(nil), trailer[8:]) {
		return 0, 0, payload, badBackup("checksum mismatch")
	}
	return index, term, payload, nil
}

// spoolVerified copies the rest of a backup (after its header) to tmp while
// decoding its catalog snapshot as it streams past, with every record
// checked as a registration is: a hostile or damaged backup is refused at
// its first bad record, before the rest of it is written to disk. It
// returns the bytes copied.
func spoolVerified(tmp io.Writer, r io.Reader, index uint64) (int64, error) {
	pr, pw := io.Pipe()
	checked := make(chan error, 1)
	go func() {
		err := registry.New().Restore(bufio.NewReaderSize(pr, 64<<10), index)
		if err != nil {
			pr.CloseWithError(badBackup("catalog snapshot: %v", err))
		} else {
			_, _ = io.Copy(io.Discard, pr) // the trailer
		}
		checked <- err
	}()
	n, err := io.Copy(tmp, io.TeeReader(r, pw))
	if err != nil {
		pw.CloseWithError(err)
		<-checked
		if errors.Is(err, ErrBadBackup) {
			return n, err
		}
		return n, fmt.Errorf("read backup: %w", err)
	}
	pw.Close()
	if err := <-checked; err != nil {
		return n, badBackup("catalog snapshot: %v", err)
	}
	return n, nil
}

package raftstore

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/rosterhq/roster/registry"
)

// sealBackup wraps payload in a backup header and trailer with a valid
// length and checksum, as a crafted backup would be.
func sealBackup(payload []byte, index uint64) []byte {
	var b bytes.Buffer
	b.WriteString(backupMagic)
	_ = binary.Write(&b, binary.BigEndian, uint16(backupVersion))
	_ = binary.Write(&b, binary.BigEndian, index)
	_ = binary.Write(&b, binary.BigEndian, uint64(1))
	b.Write(payload)
	_ = binary.Write(&b, binary.BigEndian, uint64(len(payload)))
	sum := sha256.Sum256(b.Bytes())
	b.Write(sum[:])
	return b.Bytes()
}

// FuzzBackupDecode decodes backups whose checksum is valid but whose
// catalog snapshot is arbitrary (what an attacker can craft), and raw
// bytes: a hostile backup is refused, never a panic, and one that is
// accepted holds only instances a registration could have made.
func FuzzBackupDecode(f *testing.F) {
	c := registry.New()
	in := registry.Instance{Service: "web", ID: "w1", Address: "10.0.0.1", Port: 80, TTL: 10 * time.Second}
	c.Apply(1, registry.EncodeRegister(in, time.Now().UnixNano()))
	var snap bytes.Buffer
	if _, err := c.Snapshot().WriteTo(&snap); err != nil {
		f.Fatal(err)
	}
	f.Add(snap.Bytes(), true)
	f.Add(sealBackup(snap.Bytes(), 1), false)
	f.Add([]byte("RSNP\x01\x00"), true)
	f.Fuzz(func(t *testing.T, data []byte, seal bool) {
		if seal {
			data = sealBackup(data, 7)
		}
		index, _, payload, err := verifyBackup(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		cat := registry.New()
		sec := io.NewSectionReader(bytes.NewReader(data), payload.off, payload.n)
		if err := cat.Restore(bufio.NewReader(sec), index); err != nil {
			return
		}
		for _, sum := range cat.Services().Services {
			for _, got := range cat.Service(sum.Name).Instances() {
				if err := registry.ValidateStored(&got); err != nil {
					t.Fatalf("restored an instance a registration refuses: %+v: %v", got, err)
				}
			}
		}
	})
}

// FuzzGossipMeta reads arbitrary gossip tags (what any host that reaches
// the gossip port can advertise): nothing panics, and the tags of a server
// that was accepted read back the same.
func FuzzGossipMeta(f *testing.F) {
	f.Add("3f1c", "10.0.0.1:8300", "10.0.0.1:8500", "10.0.0.1:8600", "1.0", "c1", "3", "1", "42")
	f.Add("", "10.0.0.1:8300", "", "", "", "", "x", "", "-1")
	f.Add("id", "r", "", "", "", "", "99999999999999999999", "0", "18446744073709551616")
	f.Fuzz(func(t *testing.T, id, raftAddr, httpAddr, dnsAddr, ver, cluster, expect, state, applied string) {
		tags := map[string]string{tagID: id, tagRaft: raftAddr, tagHTTP: httpAddr, tagDNS: dnsAddr,
			tagVersion: ver, tagCluster: cluster, tagExpect: expect, tagState: state, tagApplied: applied}
		m, err := parseMeta(tags)
		if err != nil {
			return
		}
		back, err := parseMeta(m.tags())
		if err != nil || back != m {
			t.Fatalf("tags of %+v read back as %+v (%v)", m, back, err)
		}
	})
}

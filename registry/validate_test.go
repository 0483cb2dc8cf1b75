package registry

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rosterhq/roster/api"
)

func TestValidate(t *testing.T) {
	manyTags := make([]string, MaxTags+1)
	for i := range manyTags {
		manyTags[i] = fmt.Sprint("t", i)
	}
	manyMeta := map[string]string{}
	for i := range MaxMetaKeys + 1 {
		manyMeta[fmt.Sprint("k", i)] = "v"
	}
	cases := []struct {
		name  string
		edit  func(*Instance)
		field string // "" means valid
		check func(*testing.T, Instance)
	}{
		{"minimal", func(*Instance) {}, "", func(t *testing.T, in Instance) {
			if in.Weight != 1 || in.Status != api.StatusPassing || in.Tags != nil || in.Meta != nil {
				t.Errorf("not normalised: %+v", in)
			}
		}},
		{"service lowercased", func(i *Instance) { i.Service = "Web-API" }, "", func(t *testing.T, in Instance) {
			if in.Service != "web-api" {
				t.Errorf("service %q", in.Service)
			}
		}},
		{"service 63", func(i *Instance) { i.Service = strings.Repeat("a", 63) }, "", nil},
		{"service 64", func(i *Instance) { i.Service = strings.Repeat("a", 64) }, "service", nil},
		{"service empty", func(i *Instance) { i.Service = "" }, "service", nil},
		{"service underscore", func(i *Instance) { i.Service = "web_api" }, "service", nil},
		{"service dot", func(i *Instance) { i.Service = "web.api" }, "service", nil},
		{"service unicode", func(i *Instance) { i.Service = "wéb" }, "service", nil},
		{"service hyphens only", func(i *Instance) { i.Service = "---" }, "service", nil},
		{"service leading hyphen", func(i *Instance) { i.Service = "-ab" }, "service", nil},
		{"service trailing hyphen", func(i *Instance) { i.Service = "ab-" }, "service", nil},
		{"service inner hyphen", func(i *Instance) { i.Service = "a-b" }, "", nil},
		{"deregister_after a week", func(i *Instance) { i.DeregisterAfter = MaxDeregisterAfter }, "", nil},
		{"deregister_after overflowing", func(i *Instance) { i.DeregisterAfter = 2562030 * time.Hour }, "deregister_after", nil},
		{"tag control character", func(i *Instance) { i.Tags = []string{"a\x01b"} }, "tags", nil},
		{"tag newline", func(i *Instance) { i.Tags = []string{"a\nb"} }, "tags", nil},
		{"tag DEL", func(i *Instance) { i.Tags = []string{"a\x7f"} }, "tags", nil},
		{"tag C1 control", func(i *Instance) { i.Tags = []string{"a\u0085"} }, "tags", nil},
		{"meta key control character", func(i *Instance) { i.Meta = map[string]string{"a\tb": "v"} }, "meta", nil},
		{"id empty", func(i *Instance) { i.ID = "" }, "id", nil},
		{"id 128", func(i *Instance) { i.ID = strings.Repeat("x", 128) }, "", nil},
		{"id 129", func(i *Instance) { i.ID = strings.Repeat("x", 129) }, "id", nil},
		{"id punctuation", func(i *Instance) { i.ID = "web-1:8080@host_a.b~c" }, "", nil},
		{"id slash", func(i *Instance) { i.ID = "a/b" }, "id", nil},
		{"id space", func(i *Instance) { i.ID = "a b" }, "id", nil},
		{"id tab", func(i *Instance) { i.ID = "a\tb" }, "id", nil},
		{"id non-ascii", func(i *Instance) { i.ID = "ü" }, "id", nil},
		{"id dot", func(i *Instance) { i.ID = "." }, "id", nil},
		{"id dotdot", func(i *Instance) { i.ID = ".." }, "id", nil},
		{"address ipv6", func(i *Instance) { i.Address = "2001:db8::1" }, "", nil},
		{"address ipv6 zone", func(i *Instance) { i.Address = "fe80::1%eth0" }, "address", nil},
		{"address hostname", func(i *Instance) { i.Address = "web-1.internal.example.com" }, "", nil},
		{"address single label", func(i *Instance) { i.Address = "localhost" }, "", nil},
		{"address digits label", func(i *Instance) { i.Address = "3com.example" }, "", nil},
		{"address empty", func(i *Instance) { i.Address = "" }, "address", nil},
		{"address bad ip", func(i *Instance) { i.Address = "10.0.0.256" }, "address", nil},
		{"address underscore", func(i *Instance) { i.Address = "web_1.example" }, "address", nil},
		{"address hyphen edge", func(i *Instance) { i.Address = "-web.example" }, "address", nil},
		{"address empty label", func(i *Instance) { i.Address = "web..example" }, "address", nil},
		{"address trailing dot", func(i *Instance) { i.Address = "web.example." }, "address", nil},
		{"address long label", func(i *Instance) { i.Address = strings.Repeat("a", 64) + ".example" }, "address", nil},
		{"address too long", func(i *Instance) { i.Address = strings.Repeat(strings.Repeat("a", 63)+".", 4) + "com" }, "address", nil},
		{"address with port", func(i *Instance) { i.Address = "10.0.0.1:80" }, "address", nil},
		{"port 0", func(i *Instance) { i.Port = 0 }, "port", nil},
		{"port 65535", func(i *Instance) { i.Port = 65535 }, "", nil},
		{"port 65536", func(i *Instance) { i.Port = 65536 }, "port", nil},
		{"port negative", func(i *Instance) { i.Port = -1 }, "port", nil},
		{"weight 65535", func(i *Instance) { i.Weight = 65535 }, "", nil},
		{"weight 65536", func(i *Instance) { i.Weight = 65536 }, "weight", nil},
		{"weight negative", func(i *Instance) { i.Weight = -1 }, "weight", nil},
		{"status warning", func(i *Instance) { i.Status = api.StatusWarning }, "", nil},
		{"status critical", func(i *Instance) { i.Status = api.StatusCritical }, "", nil},
		{"status bogus", func(i *Instance) { i.Status = "maintenance" }, "status", nil},
		{"output 4096", func(i *Instance) { i.Output = strings.Repeat("o", MaxOutput) }, "", nil},
		{"output 4097", func(i *Instance) { i.Output = strings.Repeat("o", MaxOutput+1) }, "output", nil},
		{"output bad utf8", func(i *Instance) { i.Output = "\xff" }, "output", nil},
		{"ttl 1s", func(i *Instance) { i.TTL = time.Second }, "", nil},
		{"ttl 10m", func(i *Instance) { i.TTL = 10 * time.Minute }, "", nil},
		{"ttl 999ms", func(i *Instance) { i.TTL = 999 * time.Millisecond }, "ttl", nil},
		{"ttl 10m1s", func(i *Instance) { i.TTL = 10*time.Minute + time.Second }, "ttl", nil},
		{"ttl negative", func(i *Instance) { i.TTL = -time.Second }, "ttl", nil},
		{"deregister_after 1m", func(i *Instance) { i.DeregisterAfter = time.Minute }, "", nil},
		{"deregister_after 59s", func(i *Instance) { i.DeregisterAfter = 59 * time.Second }, "deregister_after", nil},
		{"deregister_after negative", func(i *Instance) { i.DeregisterAfter = -time.Minute }, "deregister_after", nil},
		{"tags traefik rule", func(i *Instance) {
			i.Tags = []string{"traefik.http.routers.a.rule=Host(`x`)", "v1 with spaces"}
		}, "", func(t *testing.T, in Instance) {
			if len(in.Tags) != 2 || in.Tags[0] != "traefik.http.routers.a.rule=Host(`x`)" {
				t.Errorf("tags %q", in.Tags)
			}
		}},
		{"tags 64", func(i *Instance) { i.Tags = manyTags[:MaxTags] }, "", nil},
		{"tags 65", func(i *Instance) { i.Tags = manyTags }, "tags", nil},
		{"tag 512", func(i *Instance) { i.Tags = []string{strings.Repeat("t", 512)} }, "", nil},
		{"tag 513", func(i *Instance) { i.Tags = []string{strings.Repeat("t", 513)} }, "tags", nil},
		{"tag empty", func(i *Instance) { i.Tags = []string{""} }, "tags", nil},
		{"tag bad utf8", func(i *Instance) { i.Tags = []string{"\xc3"} }, "tags", nil},
		{"tags empty slice", func(i *Instance) { i.Tags = []string{} }, "", func(t *testing.T, in Instance) {
			if in.Tags != nil {
				t.Errorf("empty tags not made nil")
			}
		}},
		{"meta 64 keys", func(i *Instance) {
			i.Meta = map[string]string{}
			for k := range MaxMetaKeys {
				i.Meta[fmt.Sprint("k", k)] = "v"
			}
		}, "", nil},
		{"meta 65 keys", func(i *Instance) { i.Meta = manyMeta }, "meta", nil},
		{"meta key 128", func(i *Instance) { i.Meta = map[string]string{strings.Repeat("k", 128): "v"} }, "", nil},
		{"meta key 129", func(i *Instance) { i.Meta = map[string]string{strings.Repeat("k", 129): "v"} }, "meta", nil},
		{"meta key empty", func(i *Instance) { i.Meta = map[string]string{"": "v"} }, "meta", nil},
		{"meta value 512", func(i *Instance) { i.Meta = map[string]string{"k": strings.Repeat("v", 512)} }, "", nil},
		{"meta value 513", func(i *Instance) { i.Meta = map[string]string{"k": strings.Repeat("v", 513)} }, "meta", nil},
		{"meta value empty", func(i *Instance) { i.Meta = map[string]string{"k": ""} }, "", nil},
		{"meta bad utf8", func(i *Instance) { i.Meta = map[string]string{"k": "\xff"} }, "meta", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := inst("web", "web-1")
			tc.edit(&in)
			err := Validate(&in, MinDeregisterAfter)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if tc.check != nil {
					tc.check(t, in)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v, want a *ValidationError on %s", err, tc.field)
			}
			if ve.Field != tc.field {
				t.Fatalf("Validate failed on %s (%v), want %s", ve.Field, err, tc.field)
			}
		})
	}
}

func TestValidateDevDeregisterMinimum(t *testing.T) {
	in := inst("web", "a")
	in.DeregisterAfter = time.Second
	if err := Validate(&in, DevMinDeregisterAfter); err != nil {
		t.Fatalf("dev mode refuses 1s: %v", err)
	}
	if err := Validate(&in, MinDeregisterAfter); err == nil {
		t.Fatal("1s accepted outside dev mode")
	}
}

func TestValidateMetaErrorIsDeterministic(t *testing.T) {
	meta := map[string]string{}
	for i := range 20 {
		meta[fmt.Sprint("k", i)] = strings.Repeat("v", 600)
	}
	var first string
	for range 20 {
		in := inst("web", "a")
		in.Meta = meta
		err := Validate(&in, MinDeregisterAfter)
		if first == "" {
			first = err.Error()
		} else if err.Error() != first {
			t.Fatalf("error %q then %q", first, err)
		}
	}
}

func TestValidateServiceNameAcceptsUpperCase(t *testing.T) {
	if err := ValidateServiceName("Orders-V2"); err != nil {
		t.Fatal(err)
	}
}

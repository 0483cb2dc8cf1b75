//go:build faults

package faults

import (
	"math"
	"testing"

	"github.com/anishathalye/porcupine"
)

// The checker is only as good as its model: these histories pin down what
// the model accepts and rejects. They need no Docker.
func TestCatalogModelJudgesHistories(t *testing.T) {
	reg := func(c int, id, addr string, call, ret int64, unknown bool) porcupine.Operation {
		return porcupine.Operation{ClientId: c, Input: catInput{Kind: opRegister, ID: id, Addr: addr},
			Output: catOutput{Unknown: unknown}, Call: call, Return: ret}
	}
	dereg := func(c int, id string, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: c, Input: catInput{Kind: opDeregister, ID: id},
			Output: catOutput{}, Call: call, Return: ret}
	}
	read := func(c int, id, addr string, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: c, Input: catInput{Kind: opRead, ID: id},
			Output: catOutput{Present: addr != "", Addr: addr}, Call: call, Return: ret}
	}
	hb := func(c int, id string, present bool, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: c, Input: catInput{Kind: opHeartbeat, ID: id},
			Output: catOutput{Present: present}, Call: call, Return: ret}
	}
	const inf = math.MaxInt64
	tests := []struct {
		name    string
		history []porcupine.Operation
		want    porcupine.CheckResult
	}{
		{"read after register sees it", []porcupine.Operation{
			reg(0, "a", "1", 0, 10, false), read(1, "a", "1", 20, 30)}, porcupine.Ok},
		{"stale read after acknowledged register", []porcupine.Operation{
			reg(0, "a", "1", 0, 10, false), read(1, "a", "", 20, 30)}, porcupine.Illegal},
		{"read of an overwritten address", []porcupine.Operation{
			reg(0, "a", "1", 0, 10, false), reg(0, "a", "2", 11, 19, false), read(1, "a", "1", 20, 30)}, porcupine.Illegal},
		{"concurrent read may see either", []porcupine.Operation{
			reg(0, "a", "1", 0, 10, false), read(1, "a", "", 5, 30)}, porcupine.Ok},
		{"unknown register may have happened", []porcupine.Operation{
			reg(0, "a", "1", 0, inf, true), read(1, "a", "1", 20, 30)}, porcupine.Ok},
		{"unknown register may not have happened", []porcupine.Operation{
			reg(0, "a", "1", 0, inf, true), read(1, "a", "", 20, 30)}, porcupine.Ok},
		{"an effect cannot be undone without a write", []porcupine.Operation{
			reg(0, "a", "1", 0, inf, true), read(1, "a", "1", 20, 30), read(1, "a", "", 40, 50)}, porcupine.Illegal},
		{"deregistered is absent", []porcupine.Operation{
			reg(0, "a", "1", 0, 10, false), dereg(0, "a", 11, 19), read(1, "a", "1", 20, 30)}, porcupine.Illegal},
		{"heartbeat 404 on a registered instance", []porcupine.Operation{
			reg(0, "a", "1", 0, 10, false), hb(1, "a", false, 20, 30)}, porcupine.Illegal},
		{"heartbeat 200 on a registered instance", []porcupine.Operation{
			reg(0, "a", "1", 0, 10, false), hb(1, "a", true, 20, 30)}, porcupine.Ok},
		{"ids are independent", []porcupine.Operation{
			reg(0, "a", "1", 0, 10, false), read(1, "b", "", 20, 30)}, porcupine.Ok},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := porcupine.CheckOperationsTimeout(catalogModel, tc.history, 0); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

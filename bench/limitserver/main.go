// Command limitserver is the performance baseline for Roster's HTTP reads: a
// minimal net/http server that answers every request with a fixed body and
// the same headers a Roster lookup sends, doing no lookup work at all.
// Benchmarks report Roster's throughput as a ratio of this one's, measured in
// the same run.
package main

import (
	"flag"
	"log"
	"net/http"
	"os"
	"strconv"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18500", "listen address")
	bodyFile := flag.String("body", "", "file holding the body to answer with")
	index := flag.String("index", "42", "X-Roster-Index value to send")
	flag.Parse()
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		log.Fatal(err)
	}
	length := strconv.Itoa(len(body))
	srv := &http.Server{Addr: *addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", length)
		h.Set("X-Roster-Index", *index)
		h.Set("X-Roster-Known-Leader", "true")
		h.Set("X-Roster-Last-Contact", "0")
		w.Write(body)
	})}
	log.Fatal(srv.ListenAndServe())
}

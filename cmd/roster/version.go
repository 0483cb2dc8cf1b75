package main

import (
	"fmt"
	"io"
)

// runVersion prints the version; -h says what it does instead.
func runVersion(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintf(stdout, "roster %s\n", buildVersion())
		return exitOK
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, "Usage: roster version\n\nPrints the version of this binary.\n")
		return exitOK
	}
	fmt.Fprintf(stderr, "roster version: unexpected argument %q (roster version takes none)\n", args[0])
	return exitUsage
}

// Package contracts is the wire between Partita's services, defined in one
// place: stage and stream names, subjects, message headers, the messages
// themselves (ingest requests, job events) and the object keys of a job in
// the artifact store. Every message carries the contract version it was
// written with (HeaderContract); a service that reads a message of a newer
// version than it knows hands it back for a newer replica instead of
// misreading it, so one service can be upgraded at a time.
package contracts

import (
	"errors"
	"fmt"
	"strconv"
)

// Version is the contract version this build writes and reads. Bump it
// when a message changes in a way an older reader would misread; readers
// accept every version up to their own.
//
// Version 2: a coordination round evaluates several trial prices (the
// Trials and Reports headers replace the single Prices and Report). A
// round in flight while the aggregator is upgraded across it is sent again
// by its watchdog.
//
// Version 3: a part's rows are an Arrow IPC stream (table.Encode), no
// longer CSV.
const Version = 3

// HeaderContract carries the contract version of a message.
const HeaderContract = "Partita-Contract"

// ErrNewerContract is returned for a message written under a contract
// version this build does not know: another replica, already upgraded,
// must handle it.
var ErrNewerContract = errors.New("contracts: message written by a newer contract version")

// VersionOf reads a message's contract version from its headers (get
// returns a header's value); a message without one is version 1.
func VersionOf(get func(string) string) (int, error) {
	v := get(HeaderContract)
	if v == "" {
		return 1, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("contracts: bad %s header %q", HeaderContract, v)
	}
	return n, nil
}

// CheckVersion fails for a message whose contract version is bad or newer
// than this build's (ErrNewerContract).
func CheckVersion(get func(string) string) error {
	n, err := VersionOf(get)
	if err != nil {
		return err
	}
	if n > Version {
		return fmt.Errorf("%w: %d > %d", ErrNewerContract, n, Version)
	}
	return nil
}

// ArrowParts is the first contract version whose part rows are an Arrow
// IPC stream (table.Decode); older parts carry CSV (table.DecodeCSV).
const ArrowParts = 3

// VersionValue is the HeaderContract value this build writes.
var VersionValue = strconv.Itoa(Version)

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"

	"github.com/partita/partita/internal/client"
)

// Exit codes of the client commands (`partita help exit-codes`). dev,
// serve, bench and chaos use exitOK, exitFailed and exitUsage.
const (
	exitOK          = 0
	exitFailed      = 1 // the API refused the request (4xx), or writing the output failed
	exitUsage       = 2 // bad command, flag or argument, or an unreadable input: nothing was sent
	exitJobFailed   = 3 // the job failed
	exitJobStopped  = 4 // the job timed out or was canceled, or had not ended when the wait did
	exitUnavailable = 5 // the server could not be reached, answered 5xx or 429, or broke off
)

const exitCodesHelp = `Exit codes of the client commands (submit, jobs, models, usage, tenants):

  0  done; for a job: it succeeded
  1  refused: the API answered 4xx (invalid spec, not found, unauthorized,
     conflict, …), or writing the output failed
  2  usage: unknown command, bad flag or argument, unreadable input file,
     unwritable output path or one whose extension names no format (give
     --format), a format the command does not write; nothing was sent
  3  the job failed
  4  the job timed out or was canceled, or had not ended: --wait ran out,
     the command was interrupted, or jobs result was asked for a running
     job (the job goes on)
  5  unavailable: the server could not be reached, answered 5xx or 429 (rate
     or tier limit: retry later), or the connection broke off

A failed, timed-out or canceled job writes no result unless --partial is
given. -h, --help and "partita help COMMAND" exit 0. dev, serve, bench and
chaos exit 0, 1 (failed) or 2 (usage).
`

// exitError carries a command's exit code; quiet when the command has
// already told the user why.
type exitError struct {
	code  int
	err   error
	quiet bool
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErrorf(format string, a ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, a...)}
}

// exitCode maps a command's error to its exit code. Errors cobra makes
// itself (unknown commands, flags, arguments) are usage errors.
func exitCode(err error) int {
	var e *exitError
	var p *client.Problem
	var ue *url.Error
	var ne net.Error
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &e):
		return e.code
	case errors.As(err, &p):
		if p.Status == 429 || p.Status >= 500 {
			return exitUnavailable
		}
		return exitFailed
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return exitJobStopped
	case errors.As(err, &ue), errors.As(err, &ne), errors.Is(err, io.ErrUnexpectedEOF):
		return exitUnavailable
	}
	return exitUsage
}

// apiError classes an error of a call to the API: a problem by its status,
// a local file the call could not read as usage, anything else (transport,
// an answer that does not decode) as unavailable.
func apiError(err error) error {
	var p *client.Problem
	var pe *fs.PathError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &p), errors.As(err, &pe), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return &exitError{code: exitUnavailable, err: err}
}

// report prints a command's error on stderr (with a problem's field
// errors) and returns its exit code.
func report(err error) int {
	code := exitCode(err)
	var e *exitError
	if err == nil || (errors.As(err, &e) && e.quiet) {
		return code
	}
	fmt.Fprintf(os.Stderr, "partita: %v\n", err)
	var p *client.Problem
	if errors.As(err, &p) {
		for _, fe := range p.Errors {
			fmt.Fprintf(os.Stderr, "  %s: %s\n", fe.Path, fe.Message)
		}
	}
	return code
}

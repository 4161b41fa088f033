// Package scenariokit holds what the Go SDK scenarios share: the image files, digests, the JSON summary
// (one entry per step, as scenario_botocore.py writes it) and how a timestamp is reported.
package scenariokit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Obj is one JSON object of the summary.
type Obj = map[string]interface{}

// Summary collects each step's result, or its error as the SDK's failure function reports it.
type Summary struct {
	out     Obj
	failure func(error) Obj
}

// New starts a summary; failure turns an SDK error into {"error", "typed", "status", "message", ...}.
func New(failure func(error) Obj) *Summary {
	return &Summary{out: Obj{}, failure: failure}
}

// Step records fn's result under name, or its error.
func (s *Summary) Step(name string, fn func() (interface{}, error)) {
	v, err := fn()
	if err != nil {
		s.out[name] = s.failure(err)
		return
	}
	s.out[name] = v
}

// Set records a value under name.
func (s *Summary) Set(name string, v interface{}) { s.out[name] = v }

// Print writes the summary to stdout as JSON.
func (s *Summary) Print() {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(s.out); err != nil {
		panic(err)
	}
}

// Read is a file of IMAGE_DIR.
func Read(name string) []byte {
	data, err := os.ReadFile(filepath.Join(os.Getenv("IMAGE_DIR"), name))
	if err != nil {
		panic(err)
	}
	return data
}

// Digest is data's sha256 digest.
func Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// When is "date" for a timestamp the SDK parsed into a time within a day of now.
func When(t *time.Time) string {
	if t != nil && time.Since(*t) < 24*time.Hour && time.Until(*t) < 24*time.Hour {
		return "date"
	}
	return fmt.Sprintf("%v", t)
}

// Expiry is "future" for a token expiring more than an hour from now.
func Expiry(t *time.Time) string {
	if t != nil && time.Until(*t) > time.Hour {
		return "future"
	}
	return "past"
}

// Policy is a repository policy answer: its repository and the policy text parsed.
func Policy(name, text *string) (interface{}, error) {
	var doc interface{}
	if err := json.Unmarshal([]byte(*text), &doc); err != nil {
		return nil, err
	}
	return Obj{"repositoryName": *name, "policy": doc}, nil
}

// SortedPairs sorts [key, value] pairs by key.
func SortedPairs(pairs [][]string) [][]string {
	sort.Slice(pairs, func(i, j int) bool { return pairs[i][0] < pairs[j][0] })
	return pairs
}

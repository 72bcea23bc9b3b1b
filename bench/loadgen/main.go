// loadgen sends signed Stripe webhooks (a unique event id per request) and reports ack latencies as JSON.
//
// Closed loop (-rate 0): each of -conns connections sends its next request when the previous one was answered.
// Open loop (-rate N): requests start at N per second regardless of answers; every ack is logged with its time,
// so another process can join acks with the Kafka records they produced.
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

type result struct {
	Requests  int64              `json:"requests"`
	Errors    int64              `json:"errors"`
	Status    map[string]int64   `json:"status"`
	Seconds   float64            `json:"seconds"`
	RPS       float64            `json:"rps"`
	P50Ms     float64            `json:"p50_ms"`
	P99Ms     float64            `json:"p99_ms"`
	MaxMs     float64            `json:"max_ms"`
	Acks      map[string]float64 `json:"acks,omitempty"` // event id -> ack time (unix seconds), open loop only
}

func sign(secret, body []byte, t int64) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(strconv.FormatInt(t, 10) + "."))
	mac.Write(body)
	return fmt.Sprintf("t=%d,v1=%s", t, hex.EncodeToString(mac.Sum(nil)))
}

func main() {
	url := flag.String("url", "", "webhook URL")
	secret := flag.String("secret", "", "webhook signing secret")
	template := flag.String("template", "", "event JSON file; the string EVT_PLACEHOLDER is replaced by a unique id")
	conns := flag.Int("conns", 8, "connections")
	duration := flag.Duration("duration", 10*time.Second, "how long to send")
	rate := flag.Int("rate", 0, "requests per second (0: closed loop, as fast as answered)")
	prefix := flag.String("prefix", "evt_bench", "event id prefix (unique per run)")
	flag.Parse()

	tmpl, err := os.ReadFile(*template)
	if err != nil {
		panic(err)
	}
	transport := &http.Transport{MaxIdleConns: *conns, MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns}
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	var seq, errors int64
	var mu sync.Mutex
	latencies := make([]float64, 0, 1<<16)
	status := map[string]int64{}
	acks := map[string]float64{}

	send := func() {
		n := atomic.AddInt64(&seq, 1)
		id := fmt.Sprintf("%s_%d", *prefix, n)
		body := bytes.Replace(tmpl, []byte("EVT_PLACEHOLDER"), []byte(id), 1)
		req, _ := http.NewRequest("POST", *url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Stripe-Signature", sign([]byte(*secret), body, time.Now().Unix()))
		start := time.Now()
		resp, err := client.Do(req)
		elapsed := time.Since(start).Seconds() * 1000
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errors++
			status["error"]++
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		status[strconv.Itoa(resp.StatusCode)]++
		latencies = append(latencies, elapsed)
		if *rate > 0 && resp.StatusCode == 200 {
			acks[id] = float64(time.Now().UnixNano()) / 1e9
		}
	}

	began := time.Now()
	deadline := began.Add(*duration)
	var wg sync.WaitGroup
	if *rate == 0 {
		for c := 0; c < *conns; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) {
					send()
				}
			}()
		}
	} else {
		interval := time.Second / time.Duration(*rate)
		sem := make(chan struct{}, *conns)
		for next := began; next.Before(deadline); next = next.Add(interval) {
			time.Sleep(time.Until(next))
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				send()
				<-sem
			}()
		}
	}
	wg.Wait()
	seconds := time.Since(began).Seconds()

	sort.Float64s(latencies)
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		i := int(p / 100 * float64(len(latencies)-1))
		return latencies[i]
	}
	out := result{
		Requests: int64(len(latencies)) + errors, Errors: errors, Status: status, Seconds: seconds,
		RPS: float64(len(latencies)) / seconds, P50Ms: pct(50), P99Ms: pct(99), MaxMs: pct(100),
	}
	if *rate > 0 {
		out.Acks = acks
	}
	json.NewEncoder(os.Stdout).Encode(out)
}

// Command generate makes an image through ComfyUI Gateway's gRPC API and prints
// each progress event from the WatchJob stream, then the outputs.
//
//	go run ./examples/go/generate -target localhost:50051 -out .
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/comfyui-gateway/comfyui-gateway/clients/go/gateway"
	gatewayv1 "github.com/comfyui-gateway/comfyui-gateway/clients/go/gen/comfyui_gateway/v1"
)

func main() {
	target := flag.String("target", "localhost:50051", "gateway gRPC address")
	apiKey := flag.String("api-key", os.Getenv("COMFYUI_API_KEY"), "API key (x-api-key)")
	out := flag.String("out", ".", "folder for the outputs")
	workflow := flag.String("workflow", "sdxl_realism_v1", "workflow id")
	flag.Parse()

	client, err := gateway.Dial(*target, gateway.WithAPIKey(*apiKey))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	inputs := map[string]any{"prompt": "a lighthouse at dusk", "width": 64, "height": 64, "steps": 20}
	job, err := client.Generate(ctx, *workflow, inputs, func(e *gatewayv1.JobEvent) {
		step := ""
		if e.MaxSteps > 0 {
			step = fmt.Sprintf(" step %d/%d", e.Step, e.MaxSteps)
		}
		fmt.Printf("event %-8s %-9s %5.1f%%%s\n", e.Type, e.Status, e.Progress, step)
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, output := range job.Outputs {
		stored := output.Url[strings.LastIndex(output.Url, "/")+1:]
		file, err := os.Create(filepath.Join(*out, stored))
		if err != nil {
			log.Fatal(err)
		}
		size, err := client.Download(ctx, job.JobId, stored, file)
		file.Close()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("output %s %s %d bytes %s\n", output.Filename, output.ContentType, size, output.Sha256)
	}
}

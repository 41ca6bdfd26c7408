// Command upload runs a workflow on a local picture through ComfyUI Gateway's gRPC
// API: the picture is uploaded first and the job gets its upload:// reference.
//
//	go run ./examples/go/upload -target localhost:50051 -workflow img2img_v1 -image photo.png -out .
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
)

func main() {
	target := flag.String("target", "localhost:50051", "gateway gRPC address")
	apiKey := flag.String("api-key", os.Getenv("COMFYUI_API_KEY"), "API key (x-api-key)")
	workflow := flag.String("workflow", "img2img_v1", "workflow id")
	image := flag.String("image", "photo.png", "picture for the workflow's image input")
	out := flag.String("out", ".", "folder for the outputs")
	flag.Parse()

	data, err := os.ReadFile(*image)
	if err != nil {
		log.Fatal(err)
	}
	client, err := gateway.Dial(*target, gateway.WithAPIKey(*apiKey))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	job, err := client.Generate(ctx, *workflow, map[string]any{}, nil,
		gateway.WithImage("image", data, "image/png"))
	if err != nil {
		log.Fatal(err)
	}
	for _, output := range job.Outputs {
		parts := strings.Split(output.Url, "/")
		stored := parts[len(parts)-1]
		file, err := os.Create(filepath.Join(*out, stored))
		if err != nil {
			log.Fatal(err)
		}
		size, err := client.Download(ctx, job.JobId, stored, file)
		file.Close()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("output %s %s %d bytes\n", stored, output.ContentType, size)
	}
}

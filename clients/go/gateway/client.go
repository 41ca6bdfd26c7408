// Package gateway is a small layer over the generated ComfyUI Gateway stubs
// (package gatewayv1): dialing with credentials, errors carrying the gateway's
// codes, and Generate, which submits a job and follows its progress stream.
//
//	client, err := gateway.Dial("localhost:50051", gateway.WithAPIKey("k"))
//	job, err := client.Generate(ctx, "icon_512", map[string]any{"prompt": "a fox"}, printEvent)
package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"

	gatewayv1 "github.com/comfyui-gateway/comfyui-gateway/clients/go/gen/comfyui_gateway/v1"
	httpbody "google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

// Client holds one connection and the generated service clients.
type Client struct {
	conn    *grpc.ClientConn
	md      metadata.MD
	Gateway gatewayv1.GatewayServiceClient
	Jobs    gatewayv1.JobServiceClient
	Outputs gatewayv1.OutputServiceClient
	Uploads gatewayv1.UploadServiceClient
}

// uploadChunkBytes is the size of the chunks an upload is streamed in.
const uploadChunkBytes = 256 * 1024

// Option configures Dial.
type Option func(*Client, *[]grpc.DialOption)

// WithAPIKey sends the key as x-api-key metadata on every call.
func WithAPIKey(key string) Option {
	return func(c *Client, _ *[]grpc.DialOption) {
		if key != "" {
			c.md.Set("x-api-key", key)
		}
	}
}

// WithToken sends a JWT as "authorization: Bearer <token>" on every call.
func WithToken(token string) Option {
	return func(c *Client, _ *[]grpc.DialOption) {
		if token != "" {
			c.md.Set("authorization", "Bearer "+token)
		}
	}
}

// WithDialOptions adds grpc dial options (TLS credentials, for example).
func WithDialOptions(options ...grpc.DialOption) Option {
	return func(_ *Client, dial *[]grpc.DialOption) { *dial = append(*dial, options...) }
}

// Dial connects to the gateway's gRPC port; plaintext unless WithDialOptions says otherwise.
func Dial(target string, options ...Option) (*Client, error) {
	c := &Client{md: metadata.MD{}}
	// WithInsecure: Debian's grpc-go 1.33 predates credentials/insecure.
	dial := []grpc.DialOption{grpc.WithInsecure()}
	for _, option := range options {
		option(c, &dial)
	}
	conn, err := grpc.Dial(target, dial...)
	if err != nil {
		return nil, err
	}
	c.conn = conn
	c.Gateway = gatewayv1.NewGatewayServiceClient(conn)
	c.Jobs = gatewayv1.NewJobServiceClient(conn)
	c.Outputs = gatewayv1.NewOutputServiceClient(conn)
	c.Uploads = gatewayv1.NewUploadServiceClient(conn)
	return c, nil
}

// Close releases the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Context adds the client's credentials to ctx, for calling the generated clients directly.
func (c *Client) Context(ctx context.Context) context.Context {
	return metadata.NewOutgoingContext(ctx, c.md)
}

// Error is a failed call: the gateway's code (JOB_NOT_FOUND, ...) and message.
type Error struct {
	Code    string
	Message string
	Status  *status.Status
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// wrap turns a gRPC error into an *Error, reading the x-gw-error trailer.
func wrap(err error, trailer metadata.MD) error {
	if err == nil {
		return nil
	}
	st, _ := status.FromError(err)
	result := &Error{Code: st.Code().String(), Message: st.Message(), Status: st}
	if values := trailer.Get("x-gw-error"); len(values) > 0 {
		var body struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		if json.Unmarshal([]byte(values[0]), &body) == nil && body.Error != "" {
			result.Code, result.Message = body.Error, body.Message
		}
	}
	return result
}

// SubmitOption sets an optional field of a job request (see WithOutputFormat, WithPreviews).
type SubmitOption func(*gatewayv1.CreateJobRequest)

// WithOutputFormat converts the job's stored outputs: "png", "jpg" or "webp", quality
// 1-100 (0: the gateway's default).
func WithOutputFormat(format string, quality int32) SubmitOption {
	return func(request *gatewayv1.CreateJobRequest) {
		request.OutputFormat = &gatewayv1.OutputFormat{Format: format, Quality: quality}
	}
}

// WithPreviews adds live "preview" events (small JPEG frames) to the progress stream.
func WithPreviews() SubmitOption {
	return func(request *gatewayv1.CreateJobRequest) { request.Previews = true }
}

// Submit queues a job with a fresh metadata.requestId, so a retry never runs it twice.
func (c *Client) Submit(ctx context.Context, workflowID string, inputs map[string]any, options ...SubmitOption) (*gatewayv1.CreateJobResponse, error) {
	in, err := structpb.NewStruct(inputs)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	meta, _ := structpb.NewStruct(map[string]any{"requestId": hex.EncodeToString(id)})
	request := &gatewayv1.CreateJobRequest{WorkflowId: workflowID, Inputs: in, Metadata: meta}
	for _, option := range options {
		option(request)
	}
	var trailer metadata.MD
	response, err := c.Jobs.CreateJob(c.Context(ctx), request, grpc.Trailer(&trailer))
	return response, wrap(err, trailer)
}

// Upload streams a file for a media input (content type on the first chunk); put the
// answer's Ref (upload://...) in a job's inputs.
func (c *Client) Upload(ctx context.Context, data []byte, contentType string) (*gatewayv1.Upload, error) {
	stream, err := c.Uploads.CreateUpload(c.Context(ctx))
	if err != nil {
		return nil, wrap(err, nil)
	}
	for offset := 0; offset == 0 || offset < len(data); offset += uploadChunkBytes {
		end := offset + uploadChunkBytes
		if end > len(data) {
			end = len(data)
		}
		chunk := &httpbody.HttpBody{Data: data[offset:end]}
		if offset == 0 {
			chunk.ContentType = contentType
		}
		if err := stream.Send(chunk); err != nil {
			break // the server ended the call: CloseAndRecv reports why
		}
	}
	upload, err := stream.CloseAndRecv()
	return upload, wrap(err, stream.Trailer())
}

// generation is what Generate will send: the inputs and the options of its Submit.
type generation struct {
	inputs map[string]any
	submit []SubmitOption
}

// GenerateOption adds to what Generate sends.
type GenerateOption func(ctx context.Context, c *Client, g *generation) error

// Submitting passes Submit options (WithOutputFormat, WithPreviews) through Generate.
func Submitting(options ...SubmitOption) GenerateOption {
	return func(_ context.Context, _ *Client, g *generation) error {
		g.submit = append(g.submit, options...)
		return nil
	}
}

// WithImage uploads data and passes its upload:// reference as the media input field.
func WithImage(field string, data []byte, contentType string) GenerateOption {
	return func(ctx context.Context, c *Client, g *generation) error {
		upload, err := c.Upload(ctx, data, contentType)
		if err != nil {
			return err
		}
		g.inputs[field] = upload.Ref
		return nil
	}
}

// WithImageRef passes a reference the gateway fetches itself (base64, data:, http(s)://,
// s3://bucket/key, upload://id) as the media input field.
func WithImageRef(field, ref string) GenerateOption {
	return func(_ context.Context, _ *Client, g *generation) error {
		g.inputs[field] = ref
		return nil
	}
}

// Generate submits a job, calls onEvent for each event of its progress stream, and
// returns the finished job; a failed or cancelled job is an *Error with its code.
// Options add media inputs (WithImage, WithImageRef) and request fields (Submitting).
func (c *Client) Generate(ctx context.Context, workflowID string, inputs map[string]any, onEvent func(*gatewayv1.JobEvent), options ...GenerateOption) (*gatewayv1.Job, error) {
	values := make(map[string]any, len(inputs))
	for key, value := range inputs {
		values[key] = value
	}
	g := &generation{inputs: values}
	for _, option := range options {
		if err := option(ctx, c, g); err != nil {
			return nil, err
		}
	}
	created, err := c.Submit(ctx, workflowID, values, g.submit...)
	if err != nil {
		return nil, err
	}
	if created.Status != "cache_hit" {
		stream, err := c.Jobs.WatchJob(c.Context(ctx), &gatewayv1.WatchJobRequest{JobId: created.JobId})
		if err != nil {
			return nil, wrap(err, nil)
		}
		for {
			event, err := stream.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, wrap(err, stream.Trailer())
			}
			if onEvent != nil {
				onEvent(event)
			}
			if event.Type == "terminal" {
				break
			}
		}
	}
	var trailer metadata.MD
	job, err := c.Jobs.GetJob(c.Context(ctx), &gatewayv1.GetJobRequest{JobId: created.JobId}, grpc.Trailer(&trailer))
	if err != nil {
		return nil, wrap(err, trailer)
	}
	if job.Status != "succeeded" {
		code, message := "JOB_"+job.Status, "job "+job.Status
		if job.Error != nil {
			code, message = job.Error.Code, job.Error.Message
		}
		return job, &Error{Code: code, Message: fmt.Sprintf("job %s: %s", job.JobId, message)}
	}
	return job, nil
}

// Download streams one output (stored name or ComfyUI's name) into w.
func (c *Client) Download(ctx context.Context, jobID, filename string, w io.Writer) (int64, error) {
	stream, err := c.Outputs.DownloadOutput(c.Context(ctx), &gatewayv1.DownloadOutputRequest{JobId: jobID, Filename: filename})
	if err != nil {
		return 0, wrap(err, nil)
	}
	var size int64
	for {
		chunk, err := stream.Recv()
		if err == io.EOF {
			return size, nil
		}
		if err != nil {
			return size, wrap(err, stream.Trailer())
		}
		n, err := w.Write(chunk.GetData())
		size += int64(n)
		if err != nil {
			return size, err
		}
	}
}

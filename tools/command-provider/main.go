// pulumi-resource-command: a STAND-IN for the Pulumi command provider 1.2.1 (pulumi-command), built
// because the Go module proxy refuses its provider module (see docs/pulumi.md, "The engine here").
// It implements only what this project uses, `command:remote:Command` and `command:remote:CopyToRemote`,
// with the documented 1.2.1 semantics:
//   - create/update run the command over SSH with `stdin`; update falls back to create
//   - any input change but `triggers` is an update; a `triggers` change is a replace
//   - delete runs `delete` (if set) with the OLD connection and stdin, from the state
//   - `hostKey` pins the host key (without it the key is not checked, as upstream)
//   - secret inputs stay secret; the whole `connection` output is secret
//   - no Read drift: a refresh returns the state unchanged
//   - addPreviousOutputInEnv (default true), environment: sent as SSH env requests
//   - dialErrorLimit (default 10, -1 unlimited) and perDialTimeout (default 15 s) per session
//   - outputs stdout and stderr (trailing newline trimmed); output streamed to the engine's log
//
// CopyToRemote writes the file through `mkdir -p && cat >` in an exec session instead of SFTP.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// Version is what the provider reports; set with -ldflags "-X main.Version=...".
var Version = "1.2.1"

const (
	typeCommand = "command:remote:Command"
	typeCopy    = "command:remote:CopyToRemote"
)

type server struct {
	pulumirpc.UnimplementedResourceProviderServer
	engine pulumirpc.EngineClient
}

func main() {
	// the engine passes its own address first; flags (-v=9, --logtostderr, --tracing) may follow
	var engineAddr string
	for _, a := range os.Args[1:] {
		if !strings.HasPrefix(a, "-") {
			engineAddr = a
			break
		}
	}
	s := &server{}
	if engineAddr != "" {
		conn, err := grpc.NewClient(engineAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			fmt.Fprintf(os.Stderr, "command provider: engine %s: %v\n", engineAddr, err)
			os.Exit(1)
		}
		s.engine = pulumirpc.NewEngineClient(conn)
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterResourceProviderServer(srv, s)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "command provider: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "command provider: %v\n", err)
		os.Exit(1)
	}
}

// ---- plumbing ----

func (s *server) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: Version}, nil
}

func (s *server) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{Schema: `{"name":"command","version":"` + Version + `"}`}, nil
}

func (s *server) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (s *server) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (s *server) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	// no preview support: the engine previews outputs as the inputs, stdout/stderr unknown
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, AcceptResources: true, SupportsPreview: false}, nil
}

func (s *server) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

func (s *server) Invoke(_ context.Context, req *pulumirpc.InvokeRequest) (*pulumirpc.InvokeResponse, error) {
	return nil, status.Errorf(codes.Unimplemented, "stand-in command provider: invoke %s is not implemented", req.GetTok())
}

func checkType(urn string) (string, error) {
	t := string(resource.URN(urn).Type())
	if t != typeCommand && t != typeCopy {
		return "", status.Errorf(codes.InvalidArgument, "stand-in command provider: resource type %s is not implemented (only %s, %s)", t, typeCommand, typeCopy)
	}
	return t, nil
}

func (s *server) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if _, err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

// secretOpts keeps secrets and unknowns as they are (for what goes back to the engine); plainOpts
// unwraps secrets (for comparing and for using the values).
var (
	secretOpts = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, KeepResources: true, SkipNulls: true}
	plainOpts  = plugin.MarshalOptions{KeepUnknowns: true, SkipNulls: true}
)

func unmarshal(s *structpb.Struct, opts plugin.MarshalOptions) (resource.PropertyMap, error) {
	m, err := plugin.UnmarshalProperties(s, opts)
	if err != nil {
		return nil, err
	}
	if m == nil {
		m = resource.PropertyMap{}
	}
	return m, nil
}

// outputKeys are outputs only: never compared as inputs.
var outputKeys = map[resource.PropertyKey]bool{"stdout": true, "stderr": true}

func (s *server) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	if _, err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	oldStruct := req.GetOldInputs()
	if oldStruct == nil {
		oldStruct = req.GetOlds()
	}
	olds, err := unmarshal(oldStruct, plainOpts)
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews(), plainOpts)
	if err != nil {
		return nil, err
	}
	keys := map[resource.PropertyKey]bool{}
	for k := range olds {
		keys[k] = true
	}
	for k := range news {
		keys[k] = true
	}
	var diffs, replaces []string
	detailed := map[string]*pulumirpc.PropertyDiff{}
	for k := range keys {
		if outputKeys[k] {
			continue
		}
		o, haveOld := olds[k]
		n, haveNew := news[k]
		if haveOld && haveNew && !n.ContainsUnknowns() && o.DeepEquals(n) {
			continue
		}
		kind := pulumirpc.PropertyDiff_UPDATE
		switch {
		case !haveOld:
			kind = pulumirpc.PropertyDiff_ADD
		case !haveNew:
			kind = pulumirpc.PropertyDiff_DELETE
		}
		diffs = append(diffs, string(k))
		if k == "triggers" {
			replaces = append(replaces, string(k))
			kind += pulumirpc.PropertyDiff_ADD_REPLACE - pulumirpc.PropertyDiff_ADD
		}
		detailed[string(k)] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: true}
	}
	changes := pulumirpc.DiffResponse_DIFF_NONE
	if len(diffs) > 0 {
		changes = pulumirpc.DiffResponse_DIFF_SOME
	}
	return &pulumirpc.DiffResponse{
		Changes: changes, Diffs: diffs, Replaces: replaces,
		DetailedDiff: detailed, HasDetailedDiff: true,
	}, nil
}

// Read: neither resource reads the host (upstream has no Read either, pulumi-command#20).
func (s *server) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

func (s *server) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	t, err := checkType(req.GetUrn())
	if err != nil {
		return nil, err
	}
	if req.GetPreview() {
		return &pulumirpc.CreateResponse{Properties: req.GetProperties()}, nil
	}
	outs, err := s.run(ctx, t, "create", req.GetUrn(), req.GetProperties(), nil)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: newID(), Properties: outs}, nil
}

func (s *server) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	t, err := checkType(req.GetUrn())
	if err != nil {
		return nil, err
	}
	if req.GetPreview() {
		return &pulumirpc.UpdateResponse{Properties: req.GetNews()}, nil
	}
	outs, err := s.run(ctx, t, "update", req.GetUrn(), req.GetNews(), req.GetOlds())
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: outs}, nil
}

func (s *server) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	t, err := checkType(req.GetUrn())
	if err != nil {
		return nil, err
	}
	if t == typeCopy {
		return &emptypb.Empty{}, nil // upstream leaves copied files in place
	}
	// the state holds the inputs as they were: the OLD connection, delete command and stdin
	state, err := unmarshal(req.GetProperties(), plainOpts)
	if err != nil {
		return nil, err
	}
	cmd := str(state, "delete")
	if cmd == "" {
		return &emptypb.Empty{}, nil
	}
	_, _, err = s.exec(ctx, req.GetUrn(), state, cmd, state)
	return &emptypb.Empty{}, err
}

// run performs create or update for either type and returns the outputs: the inputs (secrets kept),
// a secret connection, and for Command stdout/stderr.
func (s *server) run(ctx context.Context, t, op, urn string, inputs, olds *structpb.Struct) (*structpb.Struct, error) {
	plain, err := unmarshal(inputs, plainOpts)
	if err != nil {
		return nil, err
	}
	kept, err := unmarshal(inputs, secretOpts)
	if err != nil {
		return nil, err
	}
	prev := resource.PropertyMap{}
	if olds != nil {
		if prev, err = unmarshal(olds, plainOpts); err != nil {
			return nil, err
		}
	}
	outs := kept.Copy()
	if c, ok := outs["connection"]; ok && !c.IsSecret() {
		outs["connection"] = resource.MakeSecret(c)
	}
	if t == typeCopy {
		if err := s.copy(ctx, urn, plain, kept); err != nil {
			return nil, err
		}
	} else {
		cmd := str(plain, op)
		if cmd == "" {
			cmd = str(plain, "create")
		}
		if cmd != "" {
			stdout, stderr, err := s.exec(ctx, urn, plain, cmd, prev)
			if err != nil {
				return nil, err
			}
			// outputs are as secret as what produced them
			secret := kept["stdin"].ContainsSecrets() || kept[resource.PropertyKey(op)].ContainsSecrets()
			outs["stdout"], outs["stderr"] = wrap(stdout, secret), wrap(stderr, secret)
		} else {
			outs["stdout"], outs["stderr"] = wrap("", false), wrap("", false)
		}
	}
	return plugin.MarshalProperties(outs, secretOpts)
}

func wrap(s string, secret bool) resource.PropertyValue {
	v := resource.NewStringProperty(strings.TrimSuffix(s, "\n"))
	if secret {
		return resource.MakeSecret(v)
	}
	return v
}

func newID() string {
	return strconv.FormatInt(time.Now().UnixNano(), 36)
}

// ---- SSH ----

type connection struct {
	host, user, password, privateKey, passphrase, hostKey string
	agentSocketPath                                       string
	agentFromEnv                                          bool
	port, dialErrorLimit                                  int
	perDialTimeout                                        time.Duration
}

func str(m resource.PropertyMap, k string) string {
	if v, ok := m[resource.PropertyKey(k)]; ok && v.IsString() {
		return v.StringValue()
	}
	return ""
}

func num(m resource.PropertyMap, k string, def int) int {
	if v, ok := m[resource.PropertyKey(k)]; ok && v.IsNumber() {
		return int(v.NumberValue())
	}
	return def
}

func boolean(m resource.PropertyMap, k string, def bool) bool {
	if v, ok := m[resource.PropertyKey(k)]; ok && v.IsBool() {
		return v.BoolValue()
	}
	return def
}

func parseConnection(props resource.PropertyMap) (connection, error) {
	v, ok := props["connection"]
	if !ok || !v.IsObject() {
		return connection{}, errors.New("connection is required")
	}
	m := v.ObjectValue()
	c := connection{
		host: str(m, "host"), user: str(m, "user"), password: str(m, "password"),
		privateKey: str(m, "privateKey"), passphrase: str(m, "privateKeyPassword"), hostKey: str(m, "hostKey"),
		agentSocketPath: str(m, "agentSocketPath"),
		port:            num(m, "port", 22), dialErrorLimit: num(m, "dialErrorLimit", 10),
		perDialTimeout: time.Duration(num(m, "perDialTimeout", 15)) * time.Second,
	}
	if c.user == "" {
		c.user = "root"
	}
	// upstream: "SSH Agent socket path. Default to environment variable SSH_AUTH_SOCK if present."
	if c.agentSocketPath == "" {
		c.agentSocketPath, c.agentFromEnv = os.Getenv("SSH_AUTH_SOCK"), true
	}
	if c.host == "" {
		return c, errors.New("connection.host is required")
	}
	if _, ok := m["proxy"]; ok {
		return c, errors.New("stand-in command provider: connection.proxy is not implemented")
	}
	return c, nil
}

func (c connection) String() string { return fmt.Sprintf("%s@%s:%d", c.user, c.host, c.port) }

// config builds the client configuration; close releases the agent socket (after the handshake).
func (c connection) config() (cfg *ssh.ClientConfig, close func(), err error) {
	cfg, err = c.clientConfig()
	close = func() {}
	if err != nil || c.agentSocketPath == "" {
		return cfg, close, err
	}
	sock, err := net.Dial("unix", c.agentSocketPath)
	if err != nil && c.agentFromEnv {
		return cfg, close, nil // a stale SSH_AUTH_SOCK only loses the agent's keys
	}
	if err != nil {
		return nil, close, fmt.Errorf("connection.agentSocketPath: %w", err)
	}
	// WHY after the key: upstream offers a configured key first, then the agent's keys
	cfg.Auth = append(cfg.Auth, ssh.PublicKeysCallback(agent.NewClient(sock).Signers))
	return cfg, func() { sock.Close() }, nil
}

func (c connection) clientConfig() (*ssh.ClientConfig, error) {
	cfg := &ssh.ClientConfig{User: c.user, Timeout: c.perDialTimeout, HostKeyCallback: ssh.InsecureIgnoreHostKey()} //nolint:gosec // upstream's behaviour without hostKey
	if c.hostKey != "" {
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(c.hostKey))
		if err != nil {
			return nil, fmt.Errorf("connection.hostKey: %w", err)
		}
		cfg.HostKeyCallback = ssh.FixedHostKey(pub)
		// offer only the pinned key's algorithms, or the server may present another of its keys
		cfg.HostKeyAlgorithms = []string{pub.Type()}
		if pub.Type() == ssh.KeyAlgoRSA {
			cfg.HostKeyAlgorithms = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
		}
	}
	if c.privateKey != "" {
		var signer ssh.Signer
		var err error
		if c.passphrase != "" {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(c.privateKey), []byte(c.passphrase))
		} else {
			signer, err = ssh.ParsePrivateKey([]byte(c.privateKey))
		}
		if err != nil {
			// never echo the key: only what kind of problem it was
			return nil, fmt.Errorf("connection.privateKey could not be parsed: %T", err)
		}
		cfg.Auth = append(cfg.Auth, ssh.PublicKeys(signer))
	}
	if c.password != "" {
		cfg.Auth = append(cfg.Auth, ssh.Password(c.password))
	}
	return cfg, nil
}

// dial tries up to dialErrorLimit times (-1: forever), each attempt bounded by perDialTimeout.
func (c connection) dial(ctx context.Context) (*ssh.Client, error) {
	cfg, closeAgent, err := c.config()
	if err != nil {
		return nil, err
	}
	defer closeAgent()
	addr := net.JoinHostPort(c.host, strconv.Itoa(c.port))
	var last error
	for attempt := 1; c.dialErrorLimit < 0 || attempt <= max(c.dialErrorLimit, 1); attempt++ {
		client, err := ssh.Dial("tcp", addr, cfg)
		if err == nil {
			return client, nil
		}
		last = err
		if strings.Contains(err.Error(), "host key mismatch") || strings.Contains(err.Error(), "unable to authenticate") {
			break // retrying cannot help
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return nil, fmt.Errorf("could not connect to %s (dialErrorLimit %d, perDialTimeout %s): %w", c, c.dialErrorLimit, c.perDialTimeout, last)
}

// exec runs cmd in one SSH session with `stdin` from props; prev holds the previous outputs.
func (s *server) exec(ctx context.Context, urn string, props resource.PropertyMap, cmd string, prev resource.PropertyMap) (string, string, error) {
	conn, err := parseConnection(props)
	if err != nil {
		return "", "", err
	}
	client, err := conn.dial(ctx)
	if err != nil {
		return "", "", err
	}
	defer client.Close()
	session, err := client.NewSession()
	if err != nil {
		return "", "", fmt.Errorf("%s: new session: %w", conn, err)
	}
	defer session.Close()
	// environment and previous outputs are SSH env requests: sshd drops them unless AcceptEnv allows
	if env, ok := props["environment"]; ok && env.IsObject() {
		for k, v := range env.ObjectValue() {
			if v.IsString() {
				_ = session.Setenv(string(k), v.StringValue())
			}
		}
	}
	if boolean(props, "addPreviousOutputInEnv", true) {
		if out := str(prev, "stdout"); out != "" {
			_ = session.Setenv("PULUMI_COMMAND_STDOUT", out)
		}
		if out := str(prev, "stderr"); out != "" {
			_ = session.Setenv("PULUMI_COMMAND_STDERR", out)
		}
	}
	if stdin := str(props, "stdin"); stdin != "" {
		session.Stdin = strings.NewReader(stdin)
	}
	logging := str(props, "logging")
	if logging == "" {
		logging = "stdoutAndStderr"
	}
	var stdout, stderr, combined bytes.Buffer
	var mu sync.Mutex
	outPipe, _ := session.StdoutPipe()
	errPipe, _ := session.StderrPipe()
	var wg sync.WaitGroup
	pump := func(r io.Reader, buf *bytes.Buffer, log bool) {
		defer wg.Done()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			buf.WriteString(line + "\n")
			combined.WriteString(line + "\n")
			mu.Unlock()
			if log {
				s.log(ctx, urn, line)
			}
		}
	}
	wg.Add(2)
	go pump(outPipe, &stdout, logging == "stdout" || logging == "stdoutAndStderr")
	go pump(errPipe, &stderr, logging == "stderr" || logging == "stdoutAndStderr")
	if err := session.Start(cmd); err != nil {
		return "", "", fmt.Errorf("%s: %w", conn, err)
	}
	wg.Wait()
	if err := session.Wait(); err != nil {
		var exit *ssh.ExitError
		if errors.As(err, &exit) {
			return stdout.String(), stderr.String(), fmt.Errorf("Process exited with status %d: running %q on %s:\n%s", exit.ExitStatus(), cmd, conn, combined.String())
		}
		return stdout.String(), stderr.String(), fmt.Errorf("running %q on %s: %w\n%s", cmd, conn, err, combined.String())
	}
	return stdout.String(), stderr.String(), nil
}

func (s *server) log(ctx context.Context, urn, line string) {
	if s.engine == nil {
		return
	}
	_, _ = s.engine.Log(ctx, &pulumirpc.LogRequest{Severity: pulumirpc.LogSeverity_INFO, Message: line, Urn: urn})
}

// copy writes the source asset to remotePath (parent directories created), in one session.
func (s *server) copy(ctx context.Context, urn string, plain, kept resource.PropertyMap) error {
	src, ok := kept["source"]
	if ok && src.IsSecret() {
		src = src.SecretValue().Element
	}
	if !ok || !src.IsAsset() {
		return errors.New("stand-in command provider: CopyToRemote supports an asset source only (no archives)")
	}
	content, err := src.AssetValue().Bytes()
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	dst := str(plain, "remotePath")
	if dst == "" {
		return errors.New("remotePath is required")
	}
	props := plain.Copy()
	props["stdin"] = resource.NewStringProperty(string(content))
	props["logging"] = resource.NewStringProperty("none")
	delete(props, "environment")
	props["addPreviousOutputInEnv"] = resource.NewBoolProperty(false)
	dir := dst[:max(strings.LastIndex(dst, "/"), 0)]
	cmd := "cat > " + shq(dst)
	if dir != "" {
		cmd = "mkdir -p " + shq(dir) + " && " + cmd
	}
	_, _, err = s.exec(ctx, urn, props, cmd, nil)
	return err
}

func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

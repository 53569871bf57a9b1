// stepgate-deploy-tools checks the deployment files with the code of the tools that own their
// formats, since no Docker engine or cluster runs where the tests do. npm test builds it from the
// Go module proxy (scripts/services/deploy-tools.ts) and the tests in test/deploy/ run it:
//
//	compose FILE              load FILE as `docker compose config` does (compose-go: the Compose
//	                          specification's schema, interpolation, references); the project as JSON
//	dockerfile FILE           BuildKit's Dockerfile parser and linter, the rules of
//	                          `docker build --check`; the result as JSON (exit 1 on an error)
//	dockerignore FILE PATH…   which PATHs the .dockerignore FILE keeps out of the build context
//	kustomize DIR             `kustomize build DIR` (sigs.k8s.io/kustomize/api); YAML on stdout
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerui"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	digest "github.com/opencontainers/go-digest"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

func main() {
	if len(os.Args) < 3 {
		fail("usage: stepgate-deploy-tools compose FILE | dockerfile FILE | dockerignore FILE PATH... | kustomize DIR")
	}
	var err error
	switch os.Args[1] {
	case "compose":
		err = compose(os.Args[2])
	case "dockerfile":
		err = dockerfile(os.Args[2])
	case "dockerignore":
		err = dockerignore(os.Args[2], os.Args[3:])
	case "kustomize":
		err = kustomize(os.Args[2])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fail(err.Error())
	}
}

func fail(message string) {
	fmt.Fprintln(os.Stderr, message)
	os.Exit(2)
}

func printJSON(value any) error {
	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", "  ")
	return out.Encode(value)
}

// compose loads the file the way the Compose CLI does for `docker compose config`: the process
// environment for interpolation, paths resolved against the file's directory, the schema checked.
func compose(file string) error {
	options, err := cli.NewProjectOptions([]string{file},
		cli.WithOsEnv,
		cli.WithWorkingDirectory(filepath.Dir(file)),
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		return err
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		return err
	}
	data, err := project.MarshalJSON()
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(append(data, '\n'))
	return err
}

// offlineImages answers BuildKit's base image look-ups without a registry (none is reachable
// here): an empty image config, so only rules about a base image's own contents cannot fire.
type offlineImages struct{}

func (offlineImages) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	return ref, "", []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"},"config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}}`), nil
}

// dockerfile runs BuildKit's lint request (`docker build --check`) over every stage.
func dockerfile(file string) error {
	source, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	sourceMap := llb.NewSourceMap(nil, file, "Dockerfile", source)
	sourceMap.Definition = &llb.Definition{} // no build context: only the file is linted
	results, err := dockerfile2llb.DockerfileLint(context.Background(), source, dockerfile2llb.ConvertOpt{
		Config:       dockerui.Config{},
		SourceMap:    sourceMap,
		MetaResolver: offlineImages{},
	})
	if err != nil {
		return err
	}
	if err := printJSON(results); err != nil {
		return err
	}
	if results.Error != nil {
		os.Exit(1)
	}
	return nil
}

// dockerignore prints, per path, whether the build context keeps it ("keep") or not ("ignore"),
// with the matcher docker build uses.
func dockerignore(file string, paths []string) error {
	reader, err := os.Open(file)
	if err != nil {
		return err
	}
	defer reader.Close()
	patterns, err := ignorefile.ReadAll(reader)
	if err != nil {
		return err
	}
	matcher, err := patternmatcher.New(patterns)
	if err != nil {
		return err
	}
	verdicts := map[string]string{}
	for _, path := range paths {
		ignored, err := matcher.MatchesOrParentMatches(filepath.ToSlash(filepath.Clean(path)))
		if err != nil {
			return err
		}
		verdicts[path] = map[bool]string{true: "ignore", false: "keep"}[ignored]
	}
	return printJSON(verdicts)
}

func kustomize(dir string) error {
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return err
	}
	yaml, err := resources.AsYaml()
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(yaml)
	return err
}

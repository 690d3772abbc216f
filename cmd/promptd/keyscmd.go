package main

import (
	"context"
	"fmt"

	"github.com/alecthomas/kong"

	"github.com/promptd/promptd"
	"github.com/promptd/promptd/client"
)

// keysCmd is `promptd keys …`: API keys of a project, for an admin key of the project or an
// instance-admin key.
type keysCmd struct {
	clientGroup `embed:""`
	Project     string `name:"project" help:"The project, by name or id (default: the project of the key in use; another project needs an instance-admin key)."`

	List   keysListCmd   `cmd:"" help:"List a project's API keys."`
	Create keysCreateCmd `cmd:"" help:"Create an API key; its secret is printed once."`
	Revoke keysRevokeCmd `cmd:"" help:"Revoke an API key."`
}

// AfterApply binds the group's flags and the command itself (for --project).
func (k *keysCmd) AfterApply(kctx *kong.Context) error {
	kctx.Bind(&k.clientFlags, k)
	return nil
}

// projectID resolves --project to an id: the calling key's own project when --project is
// empty or names it (GET /api/v1/whoami, which any key may call), else a project from the
// projects list, which only an instance-admin key may read.
func (k *keysCmd) projectID(ctx context.Context, cl *client.Client) (string, error) {
	me, err := cl.Whoami(ctx)
	if err != nil {
		return "", err
	}
	if k.Project == "" || k.Project == me.Project.ID || k.Project == me.Project.Name {
		return me.Project.ID, nil
	}
	if !me.Key.InstanceAdmin {
		return "", &usageError{fmt.Sprintf("--project %q: the key manages only the keys of its own project, %q (another project needs an instance-admin key)", k.Project, me.Project.Name)}
	}
	ps, err := cl.ListProjects(ctx)
	if err != nil {
		return "", err
	}
	for _, p := range ps.Items {
		if p.ID == k.Project || p.Name == k.Project {
			return p.ID, nil
		}
	}
	return "", &usageError{fmt.Sprintf("--project %q: no such project", k.Project)}
}

type keysListCmd struct{}

func (c *keysListCmd) Run(ctx context.Context, e *env, f *clientFlags, k *keysCmd) error {
	cl, err := f.client()
	if err != nil {
		return err
	}
	pid, err := k.projectID(ctx, cl)
	if err != nil {
		return err
	}
	p, err := cl.ListAPIKeys(ctx, pid)
	if err != nil {
		return err
	}
	if f.json() {
		return writeJSON(e.stdout, p.Items)
	}
	rows := make([][]string, 0, len(p.Items))
	for _, key := range p.Items {
		role := string(key.Role)
		if key.InstanceAdmin {
			role += " + instance admin"
		}
		rows = append(rows, []string{key.ID, key.Name, role, key.Prefix + "…", ago(key.CreatedAt)})
	}
	return table(e.stdout, []string{"ID", "NAME", "ROLE", "PREFIX", "CREATED"}, rows)
}

type keysCreateCmd struct {
	Name          string `arg:"" help:"What the key is for (recorded as the actor of its changes)."`
	Role          string `name:"role" enum:"viewer,editor,admin" default:"viewer" help:"viewer, editor or admin."`
	InstanceAdmin bool   `name:"instance-admin" help:"Also let the key manage projects and keys (role admin only)."`
}

func (c *keysCreateCmd) Run(ctx context.Context, e *env, f *clientFlags, k *keysCmd) error {
	cl, err := f.client()
	if err != nil {
		return err
	}
	pid, err := k.projectID(ctx, cl)
	if err != nil {
		return err
	}
	key, err := cl.CreateAPIKey(ctx, pid, client.CreateAPIKeyRequest{Name: c.Name, Role: promptd.Role(c.Role), InstanceAdmin: c.InstanceAdmin})
	if err != nil {
		return err
	}
	if f.json() {
		return writeJSON(e.stdout, key)
	}
	_, err = fmt.Fprintf(e.stdout, "created key %s (%s, %s). Its secret, shown only this once:\n\n  %s\n", key.ID, key.Name, key.Role, key.Secret)
	return err
}

type keysRevokeCmd struct {
	ID string `arg:"" help:"The key's id."`
}

func (c *keysRevokeCmd) Run(ctx context.Context, e *env, f *clientFlags, k *keysCmd) error {
	cl, err := f.client()
	if err != nil {
		return err
	}
	pid, err := k.projectID(ctx, cl)
	if err != nil {
		return err
	}
	if err := cl.DeleteAPIKey(ctx, pid, c.ID); err != nil {
		return err
	}
	if f.json() {
		return writeJSON(e.stdout, map[string]string{"revoked": c.ID})
	}
	_, err = fmt.Fprintf(e.stdout, "revoked key %s\n", c.ID)
	return err
}

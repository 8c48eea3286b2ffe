// Command agentloop shows the loop an agent framework runs: take code an
// LLM wrote, run it in a sandbox, feed back its output and read the files
// it made. The "LLM" here is a fixed list of snippets.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	wrenn "github.com/wrenn-dev/wrenn/sdk/go"
)

// snippets stand in for what a model would answer, turn by turn.
var snippets = []string{
	`print("hello from the sandbox")`,
	`import json; json.dump({"primes": [p for p in range(2, 50) if all(p % d for d in range(2, p))]}, open("out.json", "w"))`,
	`raise SystemExit("this one fails on purpose")`,
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	client, err := wrenn.NewClient()
	if err != nil {
		log.Fatal(err)
	}
	sbx, err := client.CreateSandbox(ctx, wrenn.WithTemplate("base"), wrenn.WithTimeout(5*time.Minute))
	if err != nil {
		log.Fatal(err)
	}
	defer sbx.Kill(context.WithoutCancel(ctx))

	for turn, code := range snippets {
		if _, err := sbx.Files.WriteString(ctx, "/home/user/turn.py", code); err != nil {
			log.Fatal(err)
		}
		res, err := sbx.Commands.Run(ctx, "python3 turn.py", wrenn.WithCommandTimeout(30*time.Second))
		var exit *wrenn.CommandExitError
		switch {
		case errors.As(err, &exit):
			// Hand the failure back to the model as its next prompt.
			fmt.Printf("turn %d failed (exit %d): %s", turn, exit.Result.ExitCode, exit.Result.Stderr)
		case err != nil:
			log.Fatal(err)
		default:
			fmt.Printf("turn %d: %s", turn, res.Stdout)
		}
	}

	out, err := sbx.Files.ReadText(ctx, "/home/user/out.json")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("out.json:", out)
}

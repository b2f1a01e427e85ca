// promptfoo provider that runs a promptlane chain: every call in order, the last call's output
// is the test's output. `promptlane eval run` copies this file into each run's temp folder and
// makes it the provider of every test of a chain card; a rendered repository carries the same
// file as evals/providers/chain.mjs (promptlane's tests keep the two identical).
//
// The prompt it gets is the chain as the prompt function renders it (promptlane's render.py
// `render_calls`, the template's render_chain.py):
//   {"promptlane_chain": [{"call": "extract", "messages": [{"role", "content"}, ...]}, ...]}
// where a content is a string, or a list of strings and {"output": "<earlier call>"} parts.
// Each call's messages, the earlier outputs put in, go as promptfoo's chat format (a JSON list
// of messages) to the model provider, which is, first that applies:
//   1. config.provider: for a direct promptfoo run, the provider this one is put in front of, e.g.
//        providers: [{id: file://providers/chain.mjs, label: local-echo,
//                     config: {provider: {id: file://providers/local_echo.py}}}]
//      (relative paths resolved against the config's folder, as promptfoo resolves them);
//   2. config.calls[<call>]: the provider of that call's own model (a run of each card's own
//      model: promptlane writes one per call, from the call's resolved model);
//   3. the provider under evaluation (the eval config's `providers:`), context.originalProvider.
// Providers of 1 and 2 are loaded with the running promptfoo's own loadApiProvider (the module
// its CLI imported, so they share its state), once per entry. (`promptlane eval run` refuses a
// test's own `provider:` and defaultTest's, PL345: promptfoo would answer with it while the
// results record the run's providers.)
// Every object keyed by a call's name has no prototype (Object.create(null)), and config.calls
// is read by own key only: a call may be named `__proto__` or `constructor`.
//
// The response: output = the last call's output; tokenUsage and cost summed over the calls;
// metadata.outputs = {<call>: output} for every call that ran, and metadata.calls = [{call,
// tokenUsage, cost}]. Assertions read a call's output as context.metadata.outputs.<call>
// (javascript), or `transform: context.metadata.outputs.<call>` on any assertion. A call that
// fails ends the chain: the test is an error naming the call. A prompt that is not a chain is
// passed to the model provider as it is.
import { readFileSync, realpathSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

const CHAIN_KEY = "promptlane_chain";
const loaded = new Map(); // JSON of a provider entry -> its loaded provider (a promise)
let loader = null;

// promptfoo's loadApiProvider as its running CLI has it: the CLI (dist/src/main.js, started by
// dist/src/entrypoint.js) imports it from one of its chunks; the same file URL is the same module.
async function loadApiProvider() {
  if (loader === null) {
    loader = (async () => {
      const entry = process.argv[1] ? realpathSync(process.argv[1]) : "";
      const dist = dirname(entry);
      let main = "";
      try {
        main = readFileSync(join(dist, "main.js"), "utf8");
      } catch {
        // not started as the promptfoo CLI
      }
      const found = /import\s*\{([^}]*\bas loadApiProvider\b[^}]*)\}\s*from\s*"\.\/(providers-[\w-]+\.js)"/.exec(main);
      const alias = found && /([\w$]+) as loadApiProvider\b/.exec(found[1]);
      if (!alias) {
        throw new Error(`promptlane's chain provider cannot find promptfoo's loadApiProvider beside ${entry || "(no entry point)"}: ` +
          "run the chain with the promptfoo CLI 0.121 (the version promptlane pins)");
      }
      const module = await import(pathToFileURL(join(dist, found[2])).href);
      if (typeof module[alias[1]] !== "function") {
        throw new Error(`promptlane's chain provider: ${found[2]} of promptfoo has no loadApiProvider`);
      }
      return module[alias[1]];
    })();
  }
  return loader;
}

function provider(entry, basePath) {
  const key = JSON.stringify(entry);
  if (!loaded.has(key)) {
    const options = typeof entry === "string" ? { id: entry } : entry;
    loaded.set(key, loadApiProvider().then((load) => load(options.id, { options, basePath })));
  }
  return loaded.get(key);
}

function contentOf(content, outputs, call) {
  if (!Array.isArray(content)) return content;
  return content.map((part) => {
    if (typeof part === "string") return part;
    if (!Object.hasOwn(outputs, part.output)) {
      throw new Error(`call '${call}' uses the output of '${part.output}', which no earlier call produced`);
    }
    return outputs[part.output];
  }).join("");
}

function chainOf(prompt) {
  try {
    const doc = JSON.parse(prompt);
    return doc && Array.isArray(doc[CHAIN_KEY]) ? doc[CHAIN_KEY] : null;
  } catch {
    return null;
  }
}

function add(total, usage) {
  for (const [key, value] of Object.entries(usage || {})) {
    if (typeof value === "number" && Number.isFinite(value)) total[key] = (total[key] || 0) + value;
  }
}

export default class PromptlaneChain {
  constructor(options = {}) {
    this.providerId = options.id || "promptlane-chain";
    this.config = options.config || {};
    this.label = options.label;
  }

  id() {
    return this.providerId;
  }

  async inner(call, context) {
    const { basePath } = this.config;
    if (this.config.provider) return provider(this.config.provider, basePath);
    const calls = this.config.calls;
    if (calls && typeof calls === "object" && Object.hasOwn(calls, call) && calls[call]) return provider(calls[call], basePath);
    if (context && context.originalProvider && context.originalProvider !== this) return context.originalProvider;
    throw new Error(`call '${call}': no model provider (give the eval config providers, or run it with promptlane eval run)`);
  }

  async callApi(prompt, context, options) {
    const chain = chainOf(prompt);
    if (chain === null) return (await this.inner("", context)).callApi(prompt, context, options);
    const outputs = Object.create(null); // call name -> its output
    const calls = [];
    const tokenUsage = {};
    let cost = 0;
    let output;
    for (const { call, messages } of chain) {
      let response;
      try {
        const sent = JSON.stringify(messages.map((m) => ({ ...m, content: contentOf(m.content, outputs, call) })));
        const model = await this.inner(call, context);
        response = await model.callApi(sent, { ...context, prompt: { ...(context && context.prompt), raw: sent } }, options);
      } catch (error) {
        response = { error: String(error && error.message ? error.message : error) };
      }
      response = response || { error: "the provider gave no response" };
      add(tokenUsage, response.tokenUsage);
      if (typeof response.cost === "number" && Number.isFinite(response.cost)) cost += response.cost;
      calls.push({ call, tokenUsage: response.tokenUsage || {}, cost: response.cost });
      const metadata = { outputs, calls };
      if (response.error) return { error: `call '${call}': ${response.error}`, tokenUsage, cost, metadata };
      if (response.output === undefined || response.output === null) {
        return { error: `call '${call}': the provider gave no output`, tokenUsage, cost, metadata };
      }
      output = response.output;
      outputs[call] = typeof output === "string" ? output : JSON.stringify(output);
    }
    return { output, tokenUsage, cost, metadata: { outputs, calls } };
  }
}

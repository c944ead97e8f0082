// ganforge for VS Code: a thin client of `ganforge lsp` on vscode-languageclient.
// "ganforge: Generate Here" (Ctrl+Alt+G) inserts generated lines above the cursor line; the
// server's "Generate here" code action and completion candidates work as in any LSP editor.
// Ghost text: the server's textDocument/inlineCompletion (LSP 3.18) continues the line as you
// type. vscode-languageclient 9 ships it as a proposed feature, registered below; VS Code's own
// inline-suggestion keys then apply (Tab accepts, Alt+] / Alt+[ cycle the candidates).
import * as vscode from "vscode";
import { LanguageClient, LanguageClientOptions, ServerOptions, TransportKind } from "vscode-languageclient/node";

let client: LanguageClient | undefined;

function settings(): Record<string, unknown> {
  const c = vscode.workspace.getConfiguration("ganforge");
  return {
    pack: c.get<string | null>("pack", null),
    count: c.get<number>("count", 5),
    temperature: c.get<number>("temperature", 1.0),
    seed: c.get<number | null>("seed", null),
    packPaths: c.get<string[]>("packPaths", []),
    inlineCount: c.get<number>("inlineCount", 5),
    inlineDebounceMs: c.get<number>("inlineDebounceMs", 100),
  };
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const [command, ...args] = vscode.workspace.getConfiguration("ganforge").get<string[]>("serverCommand", ["ganforge", "lsp"]);
  const serverOptions: ServerOptions = { command, args, transport: TransportKind.stdio };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
    initializationOptions: settings(),
  };
  client = new LanguageClient("ganforge", "ganforge", serverOptions, clientOptions);
  // The inline completion provider (InlineCompletionItemFeature) is "proposed" in this client
  // version: without this call VS Code never asks the server for ghost text.
  client.registerProposedFeatures();
  await client.start();

  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration("ganforge") && client) {
        client.sendNotification("workspace/didChangeConfiguration", { settings: { ganforge: settings() } });
      }
    }),
    vscode.commands.registerCommand("ganforge.generateHere", async () => {
      const editor = vscode.window.activeTextEditor;
      if (!editor || !client) {
        return;
      }
      const position = { line: editor.selection.active.line, character: 0 };
      try {
        // The server applies the edit itself (workspace/applyEdit) and returns the lines.
        await client.sendRequest("workspace/executeCommand", {
          command: "ganforge.generate",
          arguments: [{ uri: editor.document.uri.toString(), position }],
        });
      } catch (err) {
        vscode.window.showErrorMessage(`ganforge: ${err instanceof Error ? err.message : String(err)}`);
      }
    }),
    vscode.commands.registerCommand("ganforge.listPacks", async () => {
      if (!client) {
        return;
      }
      const packs = (await client.sendRequest("workspace/executeCommand", { command: "ganforge.listPacks", arguments: [] })) as
        { path: string; default: boolean }[];
      const pick = await vscode.window.showQuickPick(packs.map((p) => p.path), { placeHolder: "Text pack to generate from" });
      if (pick) {
        await vscode.workspace.getConfiguration("ganforge").update("pack", pick, vscode.ConfigurationTarget.Global);
      }
    }),
  );
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}

// Extension entry: registers commands. Activation is implicit from `contributes` and does no
// heavy work: TensorFlow.js is never loaded in the extension host.
import * as vscode from 'vscode';
import { countParametersCommand } from './commands/parameterCount';

export function activate(context: vscode.ExtensionContext): void {
  context.subscriptions.push(vscode.commands.registerCommand('loraLab.countParameters', countParametersCommand));
}

export function deactivate(): void {}

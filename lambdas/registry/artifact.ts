/**
 * Reads SageMaker's model.tar.gz: the training script's SM_MODEL_DIR, packed by SageMaker (or by
 * the local runner, the same way). mloop needs model.onnx and model-card.json from it.
 */
import { type Readable } from 'node:stream';
import { Parser, type ReadEntry } from 'tar';
import { ModelArtifactInvalid } from '../shared/errors';

export interface ModelFiles {
  readonly onnx: Buffer;
  readonly card: Buffer;
}

const WANTED = new Set(['model.onnx', 'model-card.json']);

export async function readModelArchive(archive: Readable, source: string): Promise<ModelFiles> {
  const files = new Map<string, Buffer>();
  await new Promise<void>((resolve, reject) => {
    const parser = new Parser({
      onReadEntry: (entry: ReadEntry) => {
        const name = entry.path.replace(/^\.\//, '');
        if (!WANTED.has(name)) {
          entry.resume();
          return;
        }
        const chunks: Buffer[] = [];
        entry.on('data', (c: Buffer) => chunks.push(c));
        entry.on('end', () => files.set(name, Buffer.concat(chunks)));
      },
    });
    parser.on('end', resolve);
    parser.on('error', (e: Error) => reject(new ModelArtifactInvalid(`${source} is not a readable tar.gz archive: ${e.message}`)));
    archive.on('error', reject);
    archive.pipe(parser);
  });
  const onnx = files.get('model.onnx');
  if (!onnx) {
    throw new ModelArtifactInvalid(`${source} has no model.onnx at its root: the training code must write model.onnx to SM_MODEL_DIR.`);
  }
  const card = files.get('model-card.json');
  if (!card) {
    throw new ModelArtifactInvalid(`${source} has no model-card.json at its root: the training code must write it beside model.onnx.`);
  }
  return { onnx, card };
}

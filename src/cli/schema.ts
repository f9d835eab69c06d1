import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { configJsonSchema } from '../config/server-config.ts';
import { pipelineJsonSchema } from '../pipeline/schema.ts';
import type { Output } from './output.ts';

/** `slipway schema`: prints the JSON Schema of .slipway.yml for editors. */
export function registerSchema(program: Command, output: Output): void {
  program
    .command('schema')
    .description('Print the JSON Schema of .slipway.yml (for editor completion and checks)')
    .option('--out <file>', 'write it to a file instead of stdout')
    .option('--config', 'the schema of the controller configuration (slipway.server.yml) instead')
    .action(async (options: { out?: string; config?: boolean }) => {
      const schema = options.config ? configJsonSchema() : pipelineJsonSchema();
      const text = `${JSON.stringify(schema, null, 2)}\n`;
      if (options.out) {
        await writeFile(options.out, text);
        output.err(`wrote ${options.out}`);
      } else output.out(text);
    });
}

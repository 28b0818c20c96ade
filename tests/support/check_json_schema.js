// check_json_schema.js SCHEMA.json [--definition NAME] DOC.json... - validates each document
// against a draft-07 JSON Schema (or one of its definitions) with Debian's node-ajv; prints one
// line per error and exits 1 when any fails.
// (Test-time only: docs/report.schema.json must describe what convert really writes.)
'use strict';
const fs = require('fs');
let Ajv;
try {
  Ajv = require('ajv');
} catch (e) {
  console.error('check_json_schema: ajv not found (apt-get install node-ajv; NODE_PATH=/usr/share/nodejs)');
  process.exit(77);
}
let [schemaPath, ...docs] = process.argv.slice(2);
let definition = null;
if (docs[0] === '--definition') [, definition, ...docs] = docs;
const ajv = new Ajv({allErrors: true});
const schema = JSON.parse(fs.readFileSync(schemaPath, 'utf8'));
ajv.addSchema(schema);
const validate = definition ? ajv.compile({$ref: `${schema.$id}#/definitions/${definition}`}) : ajv.getSchema(schema.$id);
let failed = false;
for (const path of docs) {
  if (!validate(JSON.parse(fs.readFileSync(path, 'utf8')))) {
    failed = true;
    for (const e of validate.errors) console.log(`${path}: ${e.dataPath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
  }
}
process.exit(failed ? 1 : 0);

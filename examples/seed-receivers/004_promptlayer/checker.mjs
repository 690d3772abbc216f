// A PromptLayer receiver's expectations, from the seed /work/shared/seeds/004_32d8ce427b21d4b5.txt
// (PromptLayer webhooks). The seed shows no receiver code and no signature, so this is not
// seed code: it checks each request against the seed's "Event Payload Format" and
// "Supported Event Types" table, and answers 400 listing what does not match.
//
// - the body is {event_type, details, user_id, workspace_id, timestamp}, those members only;
// - event_type is one of the seed's seven prompt_template_* types, and details has exactly
//   the fields the seed lists for it, strings and numbers as listed (integers for numbers);
// - user_id and workspace_id are numbers, or null: promptd has no numeric user or workspace
//   ids, and says so in docs/formats.md;
// - timestamp is an ISO 8601 time.
import express from 'express';

const S = 'string';
const N = 'number';
export const events = {
  prompt_template_created: { prompt_template_name: S, prompt_template_version_number: N, prompt_template_id: N },
  prompt_template_version_created: { prompt_template_name: S, prompt_template_version_number: N, prompt_template_id: N },
  prompt_template_name_changed: { prompt_template_id: N, prompt_template_name: S, old_prompt_template_name: S },
  prompt_template_deleted: { prompt_template_id: N, prompt_template_name: S },
  prompt_template_label_created: { prompt_template_id: N, prompt_template_name: S, prompt_template_version_number: N, prompt_template_label: S },
  prompt_template_label_deleted: { prompt_template_id: N, prompt_template_name: S, prompt_template_version_number: N, prompt_template_label: S },
  prompt_template_label_moved: {
    prompt_template_id: N, prompt_template_name: S, prompt_template_version_number: N,
    old_prompt_template_version_number: N, prompt_template_label: S,
  },
};

// check returns what in body does not match the seed; [] when all does.
export function check(body) {
  const problems = [];
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return ['the body is not an object'];
  const members = Object.keys(body).sort().join(',');
  if (members !== 'details,event_type,timestamp,user_id,workspace_id') problems.push(`members ${members}`);
  const fields = events[body.event_type];
  if (!fields) {
    problems.push(`unknown event_type ${JSON.stringify(body.event_type)}`);
  } else if (typeof body.details !== 'object' || body.details === null) {
    problems.push('details is not an object');
  } else {
    const got = Object.keys(body.details).sort().join(',');
    const want = Object.keys(fields).sort().join(',');
    if (got !== want) problems.push(`${body.event_type} details ${got}, want ${want}`);
    for (const [f, type] of Object.entries(fields)) {
      const v = body.details[f];
      if (typeof v !== type || (type === N && !Number.isInteger(v))) problems.push(`details.${f} = ${JSON.stringify(v)}, want a ${type}`);
    }
  }
  for (const f of ['user_id', 'workspace_id']) {
    if (body[f] !== null && !Number.isInteger(body[f])) problems.push(`${f} = ${JSON.stringify(body[f])}, want a number or null`);
  }
  if (typeof body.timestamp !== 'string' || Number.isNaN(Date.parse(body.timestamp))) problems.push(`timestamp ${JSON.stringify(body.timestamp)}`);
  return problems;
}

const app = express();
app.use(express.json());
app.post('/promptlayer', (req, res) => {
  const problems = check(req.body);
  if (problems.length > 0) {
    console.error('rejected:', problems.join('; '));
    return res.status(400).json({ problems });
  }
  res.status(200).json({ received: true });
});

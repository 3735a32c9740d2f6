/** MQTT topics of the contract: `{root}/{laneId}/{eventType}` and the retained `{root}/status`. */

export function topicRoot(template: string, postId: string): string {
  return template.replaceAll('{postId}', postId).replace(/\/+$/, '');
}

export function eventTopic(root: string, laneId: string, eventType: string): string {
  return `${root}/${laneId}/${eventType}`;
}

export function statusTopic(root: string): string {
  return `${root}/status`;
}
